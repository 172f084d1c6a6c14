// Writing a target's outputs into the project, after a build and from the cache: what is
// known is not read again, large files go through the thread pool, and the result is the
// same bytes and modes either way.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';

const YAML = `version: 1
name: outs
sourceDateEpoch: 1700000000
targets:
  gen:
    sources: ["src/**"]
    steps:
      - "mkdir -p out/bin && cp src/big.txt out/big.txt && cp src/small.txt out/small.txt"
      - "cp src/big.txt out/bin/tool && chmod 755 out/bin/tool && ln -s ../big.txt out/bin/link"
    outputs: ["out/**"]
`;

// Larger than what is copied with blocking calls, and not a multiple of any buffer size.
const BIG = Array.from({ length: 9000 }, (_, i) => `line ${i} of a large output\n`).join('');

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('outputs written into the project', () => {
  const tmp = tempDir('restore-path');
  const store = join(tmp.path, 'store');
  const dir = writeProject(join(tmp.path, 'p'), YAML, {
    'src/big.txt': BIG,
    'src/small.txt': 'small\n',
  });
  afterAll(() => tmp.cleanup());

  const build = async (): Promise<{ name: string; cached: boolean }[]> => {
    const r = await runCli(['--store', store, '--json', 'build', '-C', dir]);
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { targets: { name: string; cached: boolean }[] }).targets.map(
      (t) => ({ name: t.name, cached: t.cached }),
    );
  };

  const expectOutputs = (): void => {
    expect(BIG.length).toBeGreaterThan(128 * 1024);
    expect(readFileSync(join(dir, 'out', 'big.txt'), 'utf8')).toBe(BIG);
    expect(sha(join(dir, 'out', 'bin', 'tool'))).toBe(sha(join(dir, 'src', 'big.txt')));
    expect(readFileSync(join(dir, 'out', 'small.txt'), 'utf8')).toBe('small\n');
    expect(lstatSync(join(dir, 'out', 'big.txt')).mode & 0o7777).toBe(0o644);
    expect(lstatSync(join(dir, 'out', 'bin', 'tool')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(dir, 'out', 'small.txt')).mode & 0o7777).toBe(0o644);
    expect(lstatSync(join(dir, 'out', 'bin', 'link')).isSymbolicLink()).toBe(true);
  };

  it('after a build, come from the tree the build made without hashing that tree again', async () => {
    expect(await build()).toEqual([{ name: 'gen', cached: false }]);
    expectOutputs();
    // The stat cache holds what was hashed: the sources, never a file of the store's trees.
    const db = new Database(join(store, 'airlock', 'v1', 'build.sqlite'), { readonly: true });
    try {
      const paths = (db.prepare('SELECT path FROM files').all() as { path: string }[]).map(
        (r) => r.path,
      );
      expect(paths.filter((p) => p.startsWith(join(dir, 'src')))).toHaveLength(2);
      expect(paths.filter((p) => p.startsWith(join(store, 'airlock', 'v1', 'trees')))).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('from the cache, are the same bytes and modes, large files copied in the thread pool included', async () => {
    rmSync(join(dir, 'out'), { recursive: true, force: true });
    expect(await build()).toEqual([{ name: 'gen', cached: true }]);
    expectOutputs();
    // Only the large file gone: only it is written again, with its mode.
    rmSync(join(dir, 'out', 'bin', 'tool'));
    expect(await build()).toEqual([{ name: 'gen', cached: true }]);
    expectOutputs();
    // The extracted tree gone from the store too: extracted from the layer, then copied.
    rmSync(join(store, 'airlock', 'v1', 'trees'), { recursive: true, force: true });
    rmSync(join(dir, 'out'), { recursive: true, force: true });
    expect(await build()).toEqual([{ name: 'gen', cached: true }]);
    expectOutputs();
  });

  it('never write through a symlink planted where an output goes, in a directory that was there', async () => {
    const outside = join(tmp.path, 'outside.txt');
    writeFileSync(outside, 'not yours\n');
    for (const name of ['small.txt', 'big.txt']) {
      rmSync(join(dir, 'out', name));
      symlinkSync(outside, join(dir, 'out', name));
    }
    expect(await build()).toEqual([{ name: 'gen', cached: true }]);
    expect(readFileSync(outside, 'utf8')).toBe('not yours\n');
    expect(lstatSync(join(dir, 'out', 'small.txt')).isFile()).toBe(true);
    expect(lstatSync(join(dir, 'out', 'big.txt')).isFile()).toBe(true);
    expectOutputs();
  });

  it('under a umask that would take bits away, still get the modes of the tree', async () => {
    rmSync(join(dir, 'out'), { recursive: true, force: true });
    const old = process.umask(0o077);
    try {
      expect(await build()).toEqual([{ name: 'gen', cached: true }]);
    } finally {
      process.umask(old);
    }
    expectOutputs();
  });
});
