import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airlock, tempDir, type CliResult } from './helpers/cli.js';
import { writeProject, type JsonError } from './helpers/e2e.js';

// Real file-system faults: a small tmpfs that fills up, and one remounted
// read-only. The tests run as root (like the rest of the suite's sandbox tests).

const project = (dir: string, steps: string): string =>
  writeProject(
    dir,
    `version: 1
name: faults
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
    steps: ${steps}
    outputs: ["out/**"]
`,
  );

const expectError = (r: CliResult, code: string): void => {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^error\\[${code}\\]: `, 'm'));
  expect(r.stderr).toMatch(/^ {2}fix: \S/m);
  expect(r.stderr).not.toContain('error[BUG]');
};

describe('a store on a file system that fills up', () => {
  const tmp = tempDir('e2e-full');
  const mnt = join(tmp.path, 'mnt');
  const store = join(mnt, 'store');
  beforeAll(() => {
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', ['-l', mnt]);
    tmp.cleanup();
  });

  it('shows the step that failed because the disk filled, not a failure to save its log', () => {
    const dir = project(
      join(tmp.path, 'p1'),
      '["mkdir -p out && head -c 8000000 /dev/urandom > out/big"]',
    );
    const r = airlock(['--json', '--store', store, 'build', '-C', dir]);
    expect(r.status, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as JsonError;
    expect(doc.error.code).toBe('STEP_FAILED');
    expect(doc.error.message).toMatch(/No space left on device/);
  });

  it('names a full store STORE_FULL with its path when the outputs do not fit', () => {
    const dir = project(
      join(tmp.path, 'p2'),
      '["mkdir -p out && head -c 2000000 /dev/urandom > out/big"]',
    );
    const r = airlock(['--store', store, 'build', '-C', dir]);
    expectError(r, 'STORE_FULL');
    expect(r.stderr).toContain(store);
  });

  it('fsck with no byte left reports what it can instead of crashing', () => {
    const filler = join(mnt, 'filler');
    try {
      execFileSync('sh', ['-c', `head -c 8000000 /dev/zero > ${filler} 2>/dev/null || true`]);
      const r = airlock(['--json', '--store', store, 'store', 'fsck']);
      expect(r.stderr).not.toContain('error[BUG]');
      expect(r.stdout, r.stderr).toMatch(/"problems"/);
      const report = JSON.parse(r.stdout) as { ok: boolean; problems: { kind: string }[] };
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => p.kind)).toContain('store-full');
    } finally {
      execFileSync('rm', ['-f', filler]);
    }
    const after = airlock(['--json', '--store', store, 'store', 'fsck']);
    expect(JSON.parse(after.stdout)).toMatchObject({ ok: true });
  });
});

describe('a store on a read-only file system', () => {
  const tmp = tempDir('e2e-ro');
  const mnt = join(tmp.path, 'mnt');
  const store = join(mnt, 'store');
  beforeAll(() => {
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    const r = airlock(['--store', store, 'store', 'fsck']);
    expect(r.status, r.stderr).toBe(0);
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', ['-l', mnt]);
    tmp.cleanup();
  });

  it('fails a build with STORE_NOT_WRITABLE naming the store', () => {
    const dir = project(join(tmp.path, 'p'), '["mkdir -p out && cp a.txt out/"]');
    const r = airlock(['--store', store, 'build', '-C', dir]);
    expectError(r, 'STORE_NOT_WRITABLE');
    expect(r.stderr).toContain(store);
    expect(r.stderr).toContain('EROFS');
  });
});

describe('an immutable file in the store', () => {
  const tmp = tempDir('e2e-immutable');
  const store = join(tmp.path, 'store');
  let index = '';
  beforeAll(() => {
    const dir = project(join(tmp.path, 'p'), '["mkdir -p out && cp a.txt out/"]');
    const r = airlock(['--store', store, 'build', '-C', dir]);
    expect(r.status, r.stderr).toBe(0);
    index = join(store, 'tmp');
    execFileSync('chattr', ['+i', index]);
  });
  afterAll(() => {
    execFileSync('chattr', ['-i', index]);
    tmp.cleanup();
  });

  it('is STORE_NOT_WRITABLE with the path, not error[BUG]', () => {
    writeFileSync(join(tmp.path, 'p', 'a.txt'), 'changed\n');
    const r = airlock(['--store', store, 'build', '-C', join(tmp.path, 'p')]);
    expectError(r, 'STORE_NOT_WRITABLE');
    expect(r.stderr).toContain(join(store, 'tmp'));
    expect(readFileSync(join(tmp.path, 'p', 'a.txt'), 'utf8')).toBe('changed\n');
  });
});
