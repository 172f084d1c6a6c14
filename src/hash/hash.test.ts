import { spawnSync } from 'node:child_process';
import {
  mkdtempSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  statSync,
  lstatSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../core/digest.js';
import { treeDigest } from '../core/tree.js';
import { SMALL_FILE } from './hash-file.js';
import { StatCache, fileSig, hashTree, walkGlobs } from './index.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'airlock-hash-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function write(rel: string, content: string): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), content);
}

describe('walkGlobs', () => {
  it('finds matching files sorted by bytes, honouring excludes and skipping .git', async () => {
    write('src/b.js', 'b');
    write('src/a.js', 'a');
    write('src/Z.js', 'z');
    write('src/a.test.js', 't');
    write('src/deep/c.js', 'c');
    write('other/x.js', 'x');
    write('.git/config', 'g');
    const { matched } = await walkGlobs(root, ['src/**/*.js', '**/config'], ['**/*.test.js']);
    expect(matched.map((e) => e.path)).toEqual([
      'src/Z.js',
      'src/a.js',
      'src/b.js',
      'src/deep/c.js',
    ]);
  });

  it('does not descend below the depth a glob can reach', async () => {
    write('a.c', '1');
    write('sub/b.c', '2');
    const { matched, dirs } = await walkGlobs(root, ['*.c']);
    expect(matched.map((e) => e.path)).toEqual(['a.c']);
    expect(dirs).toEqual(['']);
  });

  it('never matches a FIFO but lists it as special, so its directory is not bound whole', async () => {
    write('src/a.txt', 'a');
    expect(spawnSync('mkfifo', [join(root, 'src', 'pipe')]).status).toBe(0);
    const { matched, special } = await walkGlobs(root, ['src/**']);
    expect(matched.map((e) => e.path)).toEqual(['src/a.txt']);
    expect(special).toEqual(['src/pipe']);
  });
});

describe('hashTree', () => {
  it('records content digests, the executable bit and symlink targets', async () => {
    write('a.txt', 'hello');
    write('run.sh', '#!/bin/sh');
    chmodSync(join(root, 'run.sh'), 0o755);
    symlinkSync('a.txt', join(root, 'link'));
    const { matched } = await walkGlobs(root, ['**']);
    const tree = await hashTree(root, matched, StatCache.memory());
    expect(tree).toEqual([
      { path: 'a.txt', kind: 'file', executable: false, digest: sha256('hello'), size: 5 },
      { path: 'link', kind: 'symlink', target: 'a.txt' },
      { path: 'run.sh', kind: 'file', executable: true, digest: sha256('#!/bin/sh'), size: 9 },
    ]);
  });

  describe('with a persistent stat cache', () => {
    it('reuses digests of unchanged old files and re-hashes changed ones', async () => {
      write('a.txt', 'one');
      const old = new Date(Date.now() - 10_000);
      utimesSync(join(root, 'a.txt'), old, old);
      const dbFile = join(root, '.airlock', 'cache.sqlite');
      const first = StatCache.open(dbFile);
      const { matched } = await walkGlobs(root, ['*.txt']);
      await hashTree(root, matched, first);
      first.close();

      const second = StatCache.open(dbFile);
      const st = lstatSync(join(root, 'a.txt'), { bigint: true });
      // The persisted entry is found again and trusted: the file is old, so not racy.
      expect(second.lookup(join(root, 'a.txt'), fileSig(st))).toEqual({
        digest: sha256('one'),
        size: 3,
      });
      const again = await hashTree(root, matched, second);
      expect(again[0]).toMatchObject({ digest: sha256('one') });
      write('a.txt', 'two');
      const changed = await hashTree(root, matched, second);
      expect(changed[0]).toMatchObject({ digest: sha256('two') });
      second.close();
    });

    it('re-hashes a file modified within the same timestamp tick as it was hashed (racy git rule)', async () => {
      write('a.txt', 'AAAA');
      const cache = StatCache.memory();
      const { matched } = await walkGlobs(root, ['*.txt']);
      const first = await hashTree(root, matched, cache);
      const { mtime, atime } = statSync(join(root, 'a.txt'));
      // Same size, and the mtime put back: only the racy rule can catch this.
      write('a.txt', 'BBBB');
      utimesSync(join(root, 'a.txt'), atime, mtime);
      const second = await hashTree(root, matched, cache);
      expect(first[0]).toMatchObject({ digest: sha256('AAAA') });
      expect(second[0]).toMatchObject({ digest: sha256('BBBB') });
    });
  });

  it('gives the same tree digest for the same files at two different paths', async () => {
    write('x/a', '1');
    write('x/b', '2');
    const other = mkdtempSync(join(tmpdir(), 'airlock-hash-other-'));
    try {
      mkdirSync(join(other, 'x'));
      writeFileSync(join(other, 'x/b'), '2');
      writeFileSync(join(other, 'x/a'), '1');
      const a = await hashTree(root, (await walkGlobs(root, ['**'])).matched, StatCache.memory());
      const b = await hashTree(other, (await walkGlobs(other, ['**'])).matched, StatCache.memory());
      expect(treeDigest(a)).toBe(treeDigest(b));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('hashTree on a cold cache with many files', () => {
  it('gives every file its own digest and size', async () => {
    const n = 2100;
    for (let i = 0; i < n; i++) write(`many/f${i}.txt`, `file ${i}\n`);
    const { matched } = await walkGlobs(root, ['many/**']);
    const tree = await hashTree(root, matched, StatCache.memory());
    expect(tree).toHaveLength(n);
    for (const e of tree) {
      const i = Number(/f(\d+)\.txt$/.exec(e.path)![1]);
      expect(e).toMatchObject({
        kind: 'file',
        digest: sha256(`file ${i}\n`),
        size: `file ${i}\n`.length,
      });
    }
  });
});

describe('hashTree at the small-file boundary', () => {
  it.each([0, 1, SMALL_FILE - 1, SMALL_FILE, SMALL_FILE + 1, 3 * SMALL_FILE + 7])(
    'hashes a %d-byte file exactly',
    async (size) => {
      const content = Buffer.alloc(size, 'x');
      mkdirSync(join(root, 'b'), { recursive: true });
      writeFileSync(join(root, 'b', 'f'), content);
      const { matched } = await walkGlobs(root, ['b/**']);
      const [entry] = await hashTree(root, matched, StatCache.memory());
      expect(entry).toMatchObject({ kind: 'file', digest: sha256(content), size });
    },
  );
});

describe('walkGlobs through a symlinked directory', () => {
  it('refuses a base that leads out of the root, naming it', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'airlock-outside-'));
    try {
      writeFileSync(join(outside, 'secret'), 's');
      symlinkSync(outside, join(root, 'lib'));
      await expect(walkGlobs(root, ['lib/**'])).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('allows a symlinked directory that stays inside the root', async () => {
    write('real/a.txt', 'a');
    symlinkSync('real', join(root, 'alias'));
    const { matched } = await walkGlobs(root, ['alias/**']);
    expect(matched.map((e) => e.path)).toEqual(['alias/a.txt']);
  });
});

describe('StatCache.prune', () => {
  it('forgets files that no longer exist and keeps the others', async () => {
    write('keep.txt', 'k');
    write('gone.txt', 'g');
    const cache = StatCache.memory();
    await hashTree(root, (await walkGlobs(root, ['*.txt'])).matched, cache);
    rmSync(join(root, 'gone.txt'));
    expect(cache.prune()).toBe(1);
    expect(cache.has(join(root, 'keep.txt'))).toBe(true);
    expect(cache.has(join(root, 'gone.txt'))).toBe(false);
  });
});

describe('hashTree with large files on a cold cache', () => {
  it('hashes them on every core with the same digests as one by one', async () => {
    const a = Buffer.alloc(33 * 1024 * 1024, 'a');
    const b = Buffer.alloc(33 * 1024 * 1024 + 5, 'b');
    write('big/a.bin', '');
    writeFileSync(join(root, 'big/a.bin'), a);
    writeFileSync(join(root, 'big/b.bin'), b);
    const { matched } = await walkGlobs(root, ['big/**']);
    const tree = await hashTree(root, matched, StatCache.memory());
    expect(tree).toEqual([
      { path: 'big/a.bin', kind: 'file', executable: false, digest: sha256(a), size: a.length },
      { path: 'big/b.bin', kind: 'file', executable: false, digest: sha256(b), size: b.length },
    ]);
  });
});

describe('StatCache across projects', () => {
  it('loads only the entries below the directory being hashed, and still answers for others', async () => {
    const other = mkdtempSync(join(tmpdir(), 'airlock-hash-b-'));
    try {
      write('a.txt', 'A');
      writeFileSync(join(other, 'b.txt'), 'B');
      const old = new Date(Date.now() - 10_000);
      utimesSync(join(root, 'a.txt'), old, old);
      utimesSync(join(other, 'b.txt'), old, old);
      const dbFile = join(root, '.airlock', 'c.sqlite');
      const first = StatCache.open(dbFile);
      await hashTree(root, (await walkGlobs(root, ['*.txt'])).matched, first);
      await hashTree(other, (await walkGlobs(other, ['*.txt'])).matched, first);
      first.close();

      const second = StatCache.open(dbFile);
      second.preload(root);
      const sigOf = (p: string) => fileSig(lstatSync(p, { bigint: true }));
      expect(second.lookup(join(root, 'a.txt'), sigOf(join(root, 'a.txt')))?.digest).toBe(
        sha256('A'),
      );
      // Not preloaded: answered by a single-row query.
      expect(second.lookup(join(other, 'b.txt'), sigOf(join(other, 'b.txt')))?.digest).toBe(
        sha256('B'),
      );
      second.close();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('StatCache preload of a project', () => {
  it('reads back every entry exactly, whatever characters its path holds', async () => {
    const names = [
      'plain.txt',
      'tab\there.txt',
      'line\nbreak.txt',
      'quote"and\\slash.txt',
      'žluťoučký 🐴.txt',
    ];
    for (const n of names) write(n, `content of ${n}`);
    const old = new Date(Date.now() - 10_000);
    for (const n of names) utimesSync(join(root, n), old, old);
    const dbFile = join(root, '.airlock', 'c.sqlite');
    const first = StatCache.open(dbFile);
    const want = await hashTree(root, (await walkGlobs(root, ['*.txt'])).matched, first);
    first.close();

    const second = StatCache.open(dbFile);
    second.preload(root);
    for (const n of names) {
      const abs = join(root, n);
      expect(second.lookup(abs, fileSig(lstatSync(abs, { bigint: true }))), n).toEqual({
        digest: sha256(`content of ${n}`),
        size: Buffer.byteLength(`content of ${n}`),
      });
    }
    expect(want).toHaveLength(names.length);
    second.close();
  });
});

describe('StatCache preload of a large project', () => {
  it('loads every entry in pages, never parsing the whole range as one text', () => {
    const dbFile = join(root, '.airlock', 'c.sqlite');
    const first = StatCache.open(dbFile);
    const sig = { sig: '1:1:1:1:1:33188', mtimeNs: 1n };
    const paths: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const p = join(root, 'p', `f${i}${i % 7 === 0 ? '-žluť🐴' : ''}.js`);
      paths.push(p);
      first.record(p, sig, sha256(p), i, 10_000_000_000n);
    }
    // Neighbours just outside the range: never loaded as part of it.
    first.record(join(root, 'p0'), sig, sha256('x'), 1, 10_000_000_000n);
    first.record(join(root, 'p.js'), sig, sha256('x'), 1, 10_000_000_000n);
    first.close();

    const second = StatCache.open(dbFile);
    const texts: number[] = [];
    const parse = JSON.parse;
    JSON.parse = ((text: string): unknown => {
      texts.push(text.length);
      return parse(text) as unknown;
    }) as typeof JSON.parse;
    try {
      second.preload(join(root, 'p'));
    } finally {
      JSON.parse = parse;
    }
    for (const [i, p] of paths.entries())
      expect(second.lookup(p, sig), p).toEqual({ digest: sha256(p), size: i });
    expect(Math.max(...texts)).toBeLessThan(700_000); // the whole range is about 0.9 MB of text
    expect(texts.length).toBeGreaterThan(1);
    second.close();
  });
});
