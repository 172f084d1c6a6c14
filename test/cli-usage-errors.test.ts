import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';
import type { JsonError } from './helpers/e2e.js';

// Commander's usage errors go through renderError like every other error:
// error[USAGE] with a fix line, or one JSON document with --json; exit 2.
describe('usage errors follow the error contract', () => {
  const tmp = tempDir('e2e-usage');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());

  const cases: [string, string[]][] = [
    ['an unknown flag', ['build', '--bogus-flag']],
    ['a missing required argument', ['repro']],
    ['an unknown command', ['frobnicate']],
  ];

  for (const [what, args] of cases) {
    it(`prints error[USAGE] and a fix for ${what}, exit 2`, () => {
      const r = airlock(['--store', store, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error\[USAGE\]: /m);
      expect(r.stderr).toMatch(/^ {2}fix: \S/m);
    });

    it(`prints one { ok: false, error } JSON document for ${what} with --json, exit 2`, () => {
      const r = airlock(['--json', '--store', store, ...args]);
      expect(r.status).toBe(2);
      const doc = JSON.parse(r.stdout) as JsonError;
      expect(doc).toMatchObject({
        ok: false,
        error: {
          code: 'USAGE',
          message: expect.stringMatching(/\S/),
          hint: expect.stringMatching(/\S/),
        },
      });
    });
  }
});
