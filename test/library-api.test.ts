import { describe, expect, it } from 'vitest';
import * as airlock from '../src/index.js';
import { isAirlockError } from '../src/index.js';

const D = `sha256:${'a'.repeat(64)}`;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isAirlockError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('the package entry point', () => {
  it('exports every use-case as a function named after its command', () => {
    const useCases = ['build', 'why', 'repro', 'check', 'pin', 'init', 'push', 'pull', 'copy'];
    const more = ['ls', 'attachments', 'storeFsck', 'storeGc'];
    for (const name of [...useCases, ...more])
      expect(typeof (airlock as Record<string, unknown>)[name], name).toBe('function');
  });

  describe('when a registry request is malformed', () => {
    it('rejects a push to a digest with DESTINATION_IS_DIGEST', async () => {
      expect(
        await codeOf(airlock.push({ source: 'demo/server', target: `127.0.0.1:1/r@${D}` })),
      ).toBe('DESTINATION_IS_DIGEST');
    });

    it('rejects a copy between two layouts with COPY_UNSUPPORTED', async () => {
      expect(await codeOf(airlock.copy({ from: 'oci:/tmp/a:x', to: 'oci:/tmp/b:y' }))).toBe(
        'COPY_UNSUPPORTED',
      );
    });

    it('rejects attachments of a reference without tag or digest with REFERENCE_INCOMPLETE', async () => {
      expect(await codeOf(airlock.attachments({ ref: '127.0.0.1:1/repo' }))).toBe(
        'REFERENCE_INCOMPLETE',
      );
    });
  });
});
