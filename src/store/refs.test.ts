import { describe, expect, it } from 'vitest';
import { sha256 } from '../core/digest.js';
import { strictReferences } from './refs.js';

describe('strictReferences', () => {
  const layer = sha256('layer');
  const inputFile = sha256('an input file that is never a blob');

  describe('for an Airlock document with a blobs list', () => {
    it('follows only the declared blobs, not other digests inside it', () => {
      const doc = {
        format: 'airlock.result/v1',
        outputs: { entries: [{ digest: inputFile }] },
        blobs: [layer],
      };
      expect([...strictReferences(doc)]).toEqual([layer]);
    });
  });

  describe('for an unknown JSON document', () => {
    it('treats every digest-shaped string as a reference', () => {
      expect(strictReferences({ a: inputFile, b: [layer] })).toEqual(new Set([inputFile, layer]));
    });
  });
});
