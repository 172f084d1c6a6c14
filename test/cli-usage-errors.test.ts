import { mkdirSync, readdirSync } from 'node:fs';
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

describe('arguments that used to slip through', () => {
  const tmp = tempDir('e2e-usage-args');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());

  it('an unknown command with --help is the unknown-command error, exit 2', () => {
    for (const args of [
      ['frobnicate', '--help'],
      ['--store', store, 'frobnicate', '-h'],
      ['frobnicate', 'help'],
    ]) {
      const r = airlock(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error\[USAGE\]: unknown command 'frobnicate'/m);
      expect(r.stdout).not.toContain('Usage: airlock');
    }
    // A known command's --help still shows its help.
    const ok = airlock(['store', 'gc', '--help']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('--retention-days');
  });

  it('--store "" is a usage error, not the current directory', () => {
    const cwd = join(tmp.path, 'cwd');
    mkdirSync(join(cwd, 'tmp'), { recursive: true });
    const r = airlock(['--store', '', 'store', 'fsck'], { cwd });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error\[USAGE\]: .*store directory must not be empty/m);
    expect(readdirSync(cwd)).toEqual(['tmp']);
  });

  it.each(['-1', 'abc', '', '1e400'])(
    'store gc --retention-days %j is a usage error that deletes nothing',
    (days) => {
      const r = airlock(['--store', store, 'store', 'gc', '--retention-days', days]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^error\[USAGE\]: .*non-negative number/m);
    },
  );

  it('store gc --retention-days 0.5 is accepted', () => {
    const r = airlock(['--json', '--store', store, 'store', 'gc', '--retention-days', '0.5']);
    expect(r.status, r.stderr).toBe(0);
  });

  it.each(['/proc/self', '/proc/airlock-no-such/store'])(
    '--store %s fails at once with a named error instead of spinning',
    (dir) => {
      const r = airlock(['--store', dir, 'store', 'fsck'], { timeoutMs: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^error\[(STORE_NOT_A_STORE|STORE_NOT_WRITABLE)\]: /m);
      expect(r.stderr).toMatch(/^ {2}fix: \S/m);
    },
  );
});
