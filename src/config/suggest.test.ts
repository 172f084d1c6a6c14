import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from './index.js';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps as 1', () => {
    expect(editDistance('sourcs', 'sources')).toBe(1);
    expect(editDistance('sources', 'sourcs')).toBe(1);
    expect(editDistance('outptus', 'outputs')).toBe(1);
    expect(editDistance('steps', 'stepz')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});

describe('didYouMean', () => {
  const keys = ['sources', 'exclude', 'deps', 'toolchain', 'env', 'steps', 'outputs'];

  it('suggests the closest key for a typo', () => {
    expect(didYouMean('sourcs', keys)).toBe('sources');
    expect(didYouMean('Steps', keys)).toBe('steps');
    expect(didYouMean('dep', keys)).toBe('deps');
    expect(didYouMean('toolchian', keys)).toBe('toolchain');
  });

  it('suggests nothing when no key is close', () => {
    expect(didYouMean('banana', keys)).toBeUndefined();
    expect(didYouMean('x', keys)).toBeUndefined();
  });

  it('breaks ties by byte order, not by the order given', () => {
    expect(didYouMean('ab', ['ac', 'aa'])).toBe('aa');
    expect(didYouMean('ab', ['aa', 'ac'])).toBe('aa');
  });
});
