import { execFileSync } from 'node:child_process';
import { chown, mkdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAirlockError, sha256, treeDigest } from '../core/index.js';
import { archiveTempDir, cleanup } from '../../test/helpers/archive.js';
import { extractTarGz, packTarGz, readTarGz, type PackEntry } from './index.js';

async function drain(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
const veryLong = `${'p'.repeat(120)}/${'q'.repeat(120)}/${'r'.repeat(120)}.txt`;
const files: Record<string, string> = {
  'README.md': '# hello\n',
  'bin/tool': '#!/bin/sh\necho hi\n',
  'src/a.ts': 'export const a = 1;\n',
  'src/é.ts': 'unicode name\n',
  'src/B.ts': 'upper case sorts first\n',
  [`${longDir}/f.txt`]: 'needs the ustar prefix\n',
  [veryLong]: 'needs a PAX path record\n',
  empty: '',
};

/** Writes the fixture tree at `root` in the given order, with varied metadata. */
async function writeTree(root: string, order: string[], variant: number): Promise<PackEntry[]> {
  const entries: PackEntry[] = [];
  for (const p of order) {
    const abs = join(root, 'host', ...p.split('/'));
    await mkdir(join(abs, '..'), { recursive: true, mode: variant ? 0o700 : 0o775 });
    await writeFile(abs, files[p]!, { mode: variant ? 0o600 : 0o664 });
    await utimes(abs, 1000 + variant * 12345, 2000 + variant * 54321);
    if (variant) await chown(abs, 1234, 5678);
    entries.push({ path: p, kind: 'file', absPath: abs, executable: p === 'bin/tool' });
  }
  entries.push({ path: 'link', kind: 'symlink', target: 'src/a.ts' });
  entries.push({ path: 'bin/long-link', kind: 'symlink', target: `../${'t'.repeat(150)}` });
  return variant ? entries.reverse() : entries;
}

describe('packTarGz', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await archiveTempDir('pack');
  });
  afterEach(async () => cleanup(dir));

  describe('when the same tree is packed from different places and histories', () => {
    it('writes byte-identical archives', async () => {
      const names = Object.keys(files);
      const a = await writeTree(join(dir, 'one'), names, 0);
      const oldUmask = process.umask(0o077);
      let b: PackEntry[];
      try {
        b = await writeTree(join(dir, 'elsewhere', 'two'), [...names].reverse(), 1);
      } finally {
        process.umask(oldUmask);
      }
      const pa = packTarGz(a, { mtime: 1700000000 });
      const pb = packTarGz(b, { mtime: 1700000000 });
      const [ba, bb] = [await drain(pa.stream), await drain(pb.stream)];
      expect(ba.length).toBeGreaterThan(100);
      expect(sha256(ba)).toBe(sha256(bb));
      const [ra, rb] = [await pa.result, await pb.result];
      expect(ra).toEqual(rb);
      expect(ra.diffId).toBe(sha256(gunzipSync(ba)));
      expect(ra.uncompressedSize).toBe(gunzipSync(ba).length);
      expect(ra.entries.find((e) => e.path === 'README.md')).toEqual({
        path: 'README.md',
        kind: 'file',
        executable: false,
        digest: sha256(files['README.md']!),
        size: files['README.md']!.length,
      });
    });

    it('changes when the mtime changes', async () => {
      const a = await writeTree(dir, ['README.md'], 0);
      const x = await drain(packTarGz(a, { mtime: 0 }).stream);
      const y = await drain(packTarGz(a, { mtime: 1 }).stream);
      expect(sha256(x)).not.toBe(sha256(y));
    });
  });

  it('writes a gzip header without name or mtime', async () => {
    const a = await writeTree(dir, ['README.md'], 0);
    const gz = await drain(packTarGz(a, { mtime: 5 }).stream);
    // ID1 ID2 CM=deflate FLG=0 (no FNAME/FCOMMENT/FEXTRA) MTIME=0 XFL OS=3 (unix)
    expect([...gz.subarray(0, 4)]).toEqual([0x1f, 0x8b, 0x08, 0x00]);
    expect([...gz.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
    expect(gz[9]).toBe(3);
  });

  it('is listed by GNU tar with sorted paths, parents first, fixed modes, owners and mtime', async () => {
    const a = await writeTree(dir, Object.keys(files), 1);
    const out = join(dir, 'out.tar.gz');
    await writeFile(out, await drain(packTarGz(a, { mtime: 1700000000 }).stream));
    const listing = execFileSync(
      'tar',
      ['--numeric-owner', '--full-time', '--quoting-style=literal', '-tzvf', out],
      {
        env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
        encoding: 'utf8',
      },
    );
    const rows = listing
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    const byName = new Map(rows.map((r) => [r[5]!, r]));
    expect(byName.get('bin/')?.slice(0, 2)).toEqual(['drwxr-xr-x', '0/0']);
    expect(byName.get('bin/tool')?.slice(0, 2)).toEqual(['-rwxr-xr-x', '0/0']);
    expect(byName.get('README.md')?.slice(0, 2)).toEqual(['-rw-r--r--', '0/0']);
    expect(byName.get('link')?.slice(0, 2)).toEqual(['lrwxrwxrwx', '0/0']);
    expect(byName.get(veryLong)?.[0]).toBe('-rw-r--r--');
    expect(byName.get(`${longDir}/f.txt`)?.[0]).toBe('-rw-r--r--');
    for (const r of rows) expect(`${r[3]} ${r[4]}`).toBe('2023-11-14 22:13:20');
    const names = rows.map((r) => r[5]!.replace(/\/$/, ''));
    const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(names).toEqual(expected);
    expect(names.indexOf('src')).toBeLessThan(names.indexOf('src/a.ts'));
    expect(names).toContain('p'.repeat(120));
    // No PAX noise: a header other than the long path/link ones would show up in --format detection.
    const raw = gunzipSync(await readFile(out));
    expect(raw.includes('atime=')).toBe(false);
    expect(raw.includes('mtime=')).toBe(false);
  });

  it('round-trips through extractTarGz and readTarGz to the same tree', async () => {
    const a = await writeTree(dir, Object.keys(files), 0);
    const { stream, result } = packTarGz(a, { mtime: 0 });
    const extracted = await extractTarGz(stream, join(dir, 'x'));
    const packed = await result;
    expect(treeDigest(extracted)).toBe(treeDigest(packed.entries));
    expect(await readFile(join(dir, 'x', ...veryLong.split('/')), 'utf8')).toBe(files[veryLong]);
    const gz = await drain(packTarGz(a, { mtime: 0 }).stream);
    await writeFile(join(dir, 'again.tar.gz'), gz);
    const read = await readTarGz(join(dir, 'again.tar.gz'));
    expect(treeDigest(read)).toBe(treeDigest(packed.entries));
    expect(read.find((e) => e.path === 'bin/tool')).toMatchObject({ mode: 0o755 });
  });

  it('packs large files streamed in pieces with the right digest', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    big.write('start');
    await writeFile(join(dir, 'big'), big);
    const { stream, result } = packTarGz(
      [{ path: 'data/big.bin', kind: 'file', absPath: join(dir, 'big'), executable: false }],
      { mtime: 0, level: 1 },
    );
    const read = await readTarGz(stream, { maxContent: 1 << 30 });
    expect((await result).entries[0]).toMatchObject({ digest: sha256(big), size: big.length });
    expect(read[0]?.content?.equals(big)).toBe(true);
  });

  describe('when an entry path is unsafe or repeated', () => {
    it.each(['/etc/passwd', '../up', 'a/../b', 'a//b', './a', ''])(
      'refuses %j with ARCHIVE_UNSAFE_PATH before writing anything',
      (path) => {
        let err: unknown;
        try {
          packTarGz([{ path, kind: 'symlink', target: 'x' }], { mtime: 0 });
        } catch (e) {
          err = e;
        }
        expect(isAirlockError(err, 'ARCHIVE_UNSAFE_PATH')).toBe(true);
      },
    );

    it('refuses duplicates and file/directory clashes with ARCHIVE_DUPLICATE_ENTRY', () => {
      const l = (path: string): PackEntry => ({ path, kind: 'symlink', target: 'x' });
      for (const set of [
        [l('a'), l('a')],
        [l('a'), l('a/b')],
      ]) {
        expect(() => packTarGz(set, { mtime: 0 })).toThrow(
          expect.objectContaining({ code: 'ARCHIVE_DUPLICATE_ENTRY' }),
        );
      }
    });
  });

  it('fails the stream and the result when a file is missing or not a regular file', async () => {
    await mkdir(join(dir, 'adir'));
    await symlink('nowhere', join(dir, 'dangling'));
    const cases = [
      [join(dir, 'adir'), 'ARCHIVE_UNSUPPORTED_ENTRY'],
      [join(dir, 'dangling'), 'ARCHIVE_SOURCE_CHANGED'],
    ] as const;
    for (const [absPath, code] of cases) {
      const { stream, result } = packTarGz(
        [{ path: 'f', kind: 'file', absPath, executable: false }],
        { mtime: 0 },
      );
      await expect(drain(stream)).rejects.toMatchObject({ code });
      await expect(result).rejects.toMatchObject({ code });
    }
  });
});
