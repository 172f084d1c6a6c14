import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAirlockError, sha256, type AirlockEvent } from '../core/index.js';
import {
  archiveTempDir,
  chunked,
  cleanup,
  listTree,
  rawTar,
  type RawEntry,
} from '../../test/helpers/archive.js';
import {
  extractTarGz,
  readTarGz,
  rebaseLinkTarget,
  type ArchiveErrorCode,
  type ExtractOptions,
} from './index.js';

describe('rebaseLinkTarget', () => {
  it('makes absolute targets relative to the link, leaves relative ones alone', () => {
    expect(rebaseLinkTarget('etc/localtime', '/usr/share/zoneinfo/UTC')).toBe(
      '../usr/share/zoneinfo/UTC',
    );
    expect(rebaseLinkTarget('./usr/bin/nodejs', '/usr/bin/node')).toBe('node');
    expect(rebaseLinkTarget('bin', '/usr/bin')).toBe('usr/bin');
    expect(rebaseLinkTarget('a/b', '/a')).toBe('.');
    expect(rebaseLinkTarget('a/b', '../x')).toBe('../x');
  });
});

describe('extractTarGz', () => {
  let root: string;
  let dest: string;
  let before: string[];

  beforeEach(async () => {
    root = await archiveTempDir('extract');
    dest = join(root, 'work', 'dest');
    await mkdir(join(root, 'outside'), { recursive: true });
    await writeFile(join(root, 'outside', 'secret'), 'keep');
    await mkdir(dest, { recursive: true });
    before = await listTree(root);
  });
  afterEach(async () => cleanup(root));

  /** Asserts nothing outside dest was created, removed or changed. */
  async function expectNothingOutside(): Promise<void> {
    const now = (await listTree(root)).filter((p) => !p.startsWith('work/dest/'));
    expect(now).toEqual(before.filter((p) => !p.startsWith('work/dest/')));
    expect(await readFile(join(root, 'outside', 'secret'), 'utf8')).toBe('keep');
  }

  async function expectRefused(
    entries: RawEntry[],
    code: ArchiveErrorCode,
    opts: ExtractOptions = {},
  ): Promise<void> {
    let err: unknown;
    try {
      await extractTarGz(chunked(rawTar(entries)), dest, opts);
    } catch (e) {
      err = e;
    }
    expect(isAirlockError(err) ? err.code : err).toBe(code);
    expect((err as { hint?: string }).hint).toBeTruthy();
    await expectNothingOutside();
  }

  describe('when an entry path escapes', () => {
    it.each([
      ['a parent reference', '../../outside/secret'],
      ['a nested parent reference', 'a/b/../../../../outside/secret'],
      ['an absolute path', `/${'tmp'}/airlock-archive-evil`],
    ])('refuses %s with ARCHIVE_UNSAFE_PATH', async (_label, name) => {
      await expectRefused([{ name, content: 'pwned' }], 'ARCHIVE_UNSAFE_PATH');
    });

    it('refuses a ".." smuggled in a PAX path record', async () => {
      await expectRefused(
        [{ name: 'harmless', pax: { path: '../../outside/secret' }, content: 'pwned' }],
        'ARCHIVE_UNSAFE_PATH',
      );
    });
  });

  describe('when a link points out of the root', () => {
    it.each([
      ['an absolute symlink', { name: 'l', type: 'symlink', linkname: '/etc/passwd' }],
      ['a climbing symlink', { name: 'a/l', type: 'symlink', linkname: '../../outside' }],
      ['a symlink with ".." after a name', { name: 'l', type: 'symlink', linkname: 'x/../..' }],
      ['an absolute hardlink', { name: 'h', type: 'hardlink', linkname: '/etc/passwd' }],
      ['a climbing hardlink', { name: 'h', type: 'hardlink', linkname: '../outside/secret' }],
      ['a hardlink to nothing extracted', { name: 'h', type: 'hardlink', linkname: 'later' }],
    ] satisfies Array<[string, RawEntry]>)('refuses %s with ARCHIVE_UNSAFE_LINK', async (_l, e) => {
      await expectRefused([e], 'ARCHIVE_UNSAFE_LINK');
      await expect(lstat(join(dest, e.name))).rejects.toThrow(/ENOENT/);
    });

    it('refuses a later entry written through an extracted symlink, even one pointing inside', async () => {
      await expectRefused(
        [
          { name: 'real/', type: 'dir', mode: 0o755 },
          { name: 'link', type: 'symlink', linkname: 'real' },
          { name: 'link/file', content: 'through the link' },
        ],
        'ARCHIVE_UNSAFE_LINK',
      );
      await expect(lstat(join(dest, 'real', 'file'))).rejects.toThrow(/ENOENT/);
    });

    it('refuses writing through a symlink already in the destination', async () => {
      await symlink(join(root, 'outside'), join(dest, 'pre'));
      before = await listTree(root);
      await expectRefused([{ name: 'pre/secret', content: 'pwned' }], 'ARCHIVE_UNSAFE_LINK');
    });

    it('replaces an existing symlink at a file path instead of following it', async () => {
      await symlink(join(root, 'outside', 'secret'), join(dest, 'victim'));
      await extractTarGz(chunked(rawTar([{ name: 'victim', content: 'new' }])), dest);
      expect((await lstat(join(dest, 'victim'))).isFile()).toBe(true);
      expect(await readFile(join(dest, 'victim'), 'utf8')).toBe('new');
      expect(await readFile(join(root, 'outside', 'secret'), 'utf8')).toBe('keep');
    });

    it('keeps relative symlinks that stay inside, verbatim', async () => {
      const tree = await extractTarGz(
        chunked(
          rawTar([
            { name: 'a/b/l', type: 'symlink', linkname: '../../top' },
            { name: 'a/m', type: 'symlink', linkname: './b/./l' },
          ]),
        ),
        dest,
      );
      expect(await readlink(join(dest, 'a', 'b', 'l'))).toBe('../../top');
      expect(tree).toEqual([
        { path: 'a/b/l', kind: 'symlink', target: '../../top' },
        { path: 'a/m', kind: 'symlink', target: './b/./l' },
      ]);
    });
  });

  it('materialises a hardlink inside the root as a copy', async () => {
    const tree = await extractTarGz(
      chunked(
        rawTar([
          { name: 'a', content: 'shared', mode: 0o755 },
          { name: 'dir/h', type: 'hardlink', linkname: 'a' },
        ]),
      ),
      dest,
    );
    expect(await readFile(join(dest, 'dir', 'h'), 'utf8')).toBe('shared');
    expect((await stat(join(dest, 'dir', 'h'))).ino).not.toBe((await stat(join(dest, 'a'))).ino);
    expect(tree[1]).toEqual({
      path: 'dir/h',
      kind: 'file',
      executable: true,
      digest: sha256('shared'),
      size: 6,
    });
  });

  describe('when the archive holds special files', () => {
    it.each([
      ['a character device', { name: 'null', type: 'char' }],
      ['a block device', { name: 'sda', type: 'block' }],
      ['a fifo', { name: 'pipe', type: 'fifo' }],
    ] satisfies Array<[string, RawEntry]>)(
      'refuses %s with ARCHIVE_UNSUPPORTED_ENTRY by default',
      async (_l, e) => {
        await expectRefused([e], 'ARCHIVE_UNSUPPORTED_ENTRY');
        await expect(lstat(join(dest, e.name))).rejects.toThrow(/ENOENT/);
      },
    );

    it('skips them with a warning when asked to', async () => {
      const events: AirlockEvent[] = [];
      const tree = await extractTarGz(
        chunked(
          rawTar([
            { name: 'pipe', type: 'fifo' },
            { name: 'ok', content: 'yes' },
          ]),
        ),
        dest,
        { onUnsupported: 'skip', events: (e) => events.push(e) },
      );
      expect(tree.map((e) => e.path)).toEqual(['ok']);
      expect(await listTree(dest)).toEqual(['ok']);
      expect(events).toContainEqual(expect.objectContaining({ level: 'warn' }));
    });
  });

  describe("with onUnsupported: 'skip-devices'", () => {
    it('skips device nodes and fifos with a warning and extracts the rest', async () => {
      const events: AirlockEvent[] = [];
      const tree = await extractTarGz(
        chunked(
          rawTar([
            { name: 'dev/null', type: 'char' },
            { name: 'pipe', type: 'fifo' },
            { name: 'ok', content: 'yes' },
          ]),
        ),
        dest,
        { onUnsupported: 'skip-devices', events: (e) => events.push(e) },
      );
      expect(tree.map((e) => e.path)).toEqual(['ok']);
      expect(events.filter((e) => e.type === 'log' && e.level === 'warn')).toHaveLength(2);
    });
  });

  describe("with absoluteLinks: 'rebase' (a root filesystem)", () => {
    const rebase: ExtractOptions = { absoluteLinks: 'rebase' };

    it('writes absolute symlink targets relative to the link, inside the destination', async () => {
      const tree = await extractTarGz(
        chunked(
          rawTar([
            { name: 'usr/share/zoneinfo/UTC', content: 'tz' },
            { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' },
            { name: 'etc/up', type: 'symlink', linkname: '/../../outside/secret' },
          ]),
        ),
        dest,
        rebase,
      );
      expect(await readlink(join(dest, 'etc/localtime'))).toBe('../usr/share/zoneinfo/UTC');
      expect(await readFile(join(dest, 'etc/localtime'), 'utf8')).toBe('tz');
      // '/..' is '/' inside a root: the link can never climb out of the destination.
      expect(await readlink(join(dest, 'etc/up'))).toBe('../outside/secret');
      expect(tree).toContainEqual({
        path: 'etc/localtime',
        kind: 'symlink',
        target: '../usr/share/zoneinfo/UTC',
      });
      await expectNothingOutside();
    });

    it('links an absolute hard-link name to the archive’s own file', async () => {
      await extractTarGz(
        chunked(
          rawTar([
            { name: 'usr/bin/node', content: 'bin' },
            { name: 'usr/bin/nodejs', type: 'hardlink', linkname: '/usr/bin/node' },
          ]),
        ),
        dest,
        rebase,
      );
      expect(await readFile(join(dest, 'usr/bin/nodejs'), 'utf8')).toBe('bin');
      await expectNothingOutside();
    });

    it('still refuses them by default', async () => {
      await expectRefused(
        [{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }],
        'ARCHIVE_UNSAFE_LINK',
      );
    });
  });

  it('strips setuid, setgid, sticky and group/world write bits', async () => {
    await extractTarGz(
      chunked(
        rawTar([
          { name: 'suid', content: 'x', mode: 0o4755 },
          { name: 'sgid', content: 'x', mode: 0o2755 },
          { name: 'sticky/', type: 'dir', mode: 0o1777 },
          { name: 'shared', content: 'x', mode: 0o666 },
          { name: 'private', content: 'x', mode: 0o600 },
        ]),
      ),
      dest,
    );
    expect((await stat(join(dest, 'suid'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(dest, 'sgid'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(dest, 'sticky'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(dest, 'shared'))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(dest, 'private'))).mode & 0o7777).toBe(0o600);
  });

  it('writes only 0644/0755 files and 0755 directories with normalizeModes', async () => {
    await extractTarGz(
      chunked(
        rawTar([
          { name: 'suid', content: 'x', mode: 0o4711 },
          { name: 'shared', content: 'x', mode: 0o666 },
          { name: 'private', content: 'x', mode: 0o600 },
          { name: 'd/', type: 'dir', mode: 0o1777 },
        ]),
      ),
      dest,
      { normalizeModes: true },
    );
    expect((await stat(join(dest, 'suid'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(dest, 'shared'))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(dest, 'private'))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(dest, 'd'))).mode & 0o7777).toBe(0o755);
  });

  it('refuses duplicate entries with ARCHIVE_DUPLICATE_ENTRY', async () => {
    await expectRefused(
      [
        { name: 'same', content: 'first' },
        { name: './same', content: 'second' },
      ],
      'ARCHIVE_DUPLICATE_ENTRY',
    );
    expect(await readFile(join(dest, 'same'), 'utf8')).toBe('first');
  });

  describe('when the archive is damaged', () => {
    it('refuses a bad header checksum with ARCHIVE_CORRUPT', async () => {
      const tar = rawTar([{ name: 'f', content: 'x' }], { plain: true });
      tar[0] = 0x67;
      await expect(extractTarGz(chunked(tar), dest)).rejects.toMatchObject({
        code: 'ARCHIVE_CORRUPT',
      });
    });

    it('refuses a truncated archive and bad gzip with ARCHIVE_CORRUPT', async () => {
      const tar = rawTar([{ name: 'f', content: 'y'.repeat(5000) }], { plain: true });
      await expect(extractTarGz(chunked(tar.subarray(0, 2000)), dest)).rejects.toMatchObject({
        code: 'ARCHIVE_CORRUPT',
      });
      const gz = rawTar([{ name: 'g', content: 'z'.repeat(5000) }]);
      await expect(
        extractTarGz(chunked(gz.subarray(0, gz.length - 30)), dest),
      ).rejects.toMatchObject({ code: 'ARCHIVE_CORRUPT' });
    });
  });

  it('detects a plain tar and reads archives GNU tar wrote, long names included', async () => {
    const src = join(root, 'src');
    const long = `${'n'.repeat(150)}/${'m'.repeat(150)}`;
    await mkdir(join(src, long), { recursive: true });
    await writeFile(join(src, long, 'f'), 'gnu');
    await writeFile(join(src, 'x'), 'plain');
    await symlink('x', join(src, 'lx'));
    for (const format of ['gnu', 'posix', 'ustar']) {
      const tarFile = join(root, `${format}.tar`);
      const what = format === 'ustar' ? ['x', 'lx'] : ['.'];
      execFileSync('tar', [`--format=${format}`, '-cf', tarFile, '-C', src, ...what]);
      const out = join(root, `out-${format}`);
      const tree = await extractTarGz(tarFile, out);
      expect(await readFile(join(out, 'x'), 'utf8')).toBe('plain');
      expect(tree).toContainEqual({ path: 'lx', kind: 'symlink', target: 'x' });
      if (format !== 'ustar') {
        expect(await readFile(join(out, long, 'f'), 'utf8')).toBe('gnu');
        expect(tree.map((e) => e.path)).toContain(`${long}/f`);
      }
    }
  });

  describe('limits against hostile archives', () => {
    it('refuses content past maxBytes with ARCHIVE_TOO_LARGE', async () => {
      await expectRefused(
        [
          { name: 'a', content: 'x'.repeat(600) },
          { name: 'b', content: 'y'.repeat(600) },
        ],
        'ARCHIVE_TOO_LARGE',
        { limits: { maxBytes: 1000 } },
      );
      // Refused from the header, before the second file was written.
      await expect(stat(join(dest, 'b'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('refuses more than maxEntries entries with ARCHIVE_TOO_MANY_ENTRIES', async () => {
      const entries = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, content: '' }));
      await expectRefused(entries, 'ARCHIVE_TOO_MANY_ENTRIES', { limits: { maxEntries: 10 } });
    });

    it('refuses a path deeper than maxDepth with ARCHIVE_PATH_TOO_DEEP (default 256)', async () => {
      await expectRefused(
        [{ name: 'x', pax: { path: `${'d/'.repeat(300)}f` }, content: 'deep' }],
        'ARCHIVE_PATH_TOO_DEEP',
      );
      await expectRefused([{ name: 'a/b/c/d', content: '' }], 'ARCHIVE_PATH_TOO_DEEP', {
        limits: { maxDepth: 3 },
      });
    });

    it('refuses a path the file system would refuse (ENAMETOOLONG) with ARCHIVE_PATH_TOO_LONG', async () => {
      await expectRefused(
        [{ name: 'x', pax: { path: 'n'.repeat(256) }, content: '' }],
        'ARCHIVE_PATH_TOO_LONG',
      );
      await expectRefused(
        [{ name: 'x', pax: { path: `${`${'p'.repeat(200)}/`.repeat(25)}f` }, content: '' }],
        'ARCHIVE_PATH_TOO_LONG',
      );
    });

    it('refuses a gzip bomb (1 GiB of zeros from a few hundred KiB) with ARCHIVE_TOO_LARGE', async () => {
      // Concatenated gzip members: the header, then 16 MiB zero members, 1 GiB in all.
      const { gzipSync } = await import('node:zlib');
      const header = rawTar([{ name: 'bomb', content: '' }], { plain: true }).subarray(0, 512);
      const size = 2 ** 30;
      header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
      let sum = 8 * 32;
      for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += header[i]!;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
      const zeros = gzipSync(Buffer.alloc(16 << 20), { level: 9 });
      async function* bomb(): AsyncGenerator<Uint8Array> {
        await Promise.resolve();
        yield gzipSync(header);
        for (let i = 0; i < 64; i++) yield zeros;
      }
      let err: unknown;
      try {
        await extractTarGz(bomb(), dest);
      } catch (e) {
        err = e;
      }
      expect(isAirlockError(err) ? err.code : err).toBe('ARCHIVE_TOO_LARGE');
      expect((err as { details: { limit: string } }).details.limit).toBe('ratio');
      // Stopped soon after the 256 MiB floor, not at the end of the 1 GiB.
      expect((await stat(join(dest, 'bomb'))).size).toBeLessThan(300 << 20);
      await expectNothingOutside();
    });

    it('accepts a compressible archive below the floor', async () => {
      const tree = await extractTarGz(
        chunked(rawTar([{ name: 'z', content: '\0'.repeat(1 << 20) }])),
        dest,
      );
      expect(tree).toHaveLength(1);
    });
  });

  describe('when the declared compression is wrong', () => {
    it('refuses a plain tar declared gzip, and gzip declared a plain tar', async () => {
      const plain = rawTar([{ name: 'f', content: 'x' }], { plain: true });
      await expect(
        extractTarGz(chunked(plain), dest, { compression: 'gzip' }),
      ).rejects.toMatchObject({
        code: 'ARCHIVE_CORRUPT',
        message: expect.stringMatching(/gzip magic/),
      });
      const gz = rawTar([{ name: 'f', content: 'x' }]);
      await expect(extractTarGz(chunked(gz), dest, { compression: 'tar' })).rejects.toMatchObject({
        code: 'ARCHIVE_CORRUPT',
      });
      await extractTarGz(chunked(gz), dest, { compression: 'gzip' });
      expect(await readFile(join(dest, 'f'), 'utf8')).toBe('x');
    });

    it('hands every decompressed byte to onTarBytes, padding included', async () => {
      const plain = Buffer.concat([
        rawTar([{ name: 'f', content: 'x' }], { plain: true }),
        Buffer.alloc(10240),
      ]);
      const { gzipSync } = await import('node:zlib');
      const seen: Buffer[] = [];
      await extractTarGz(chunked(gzipSync(plain)), dest, {
        onTarBytes: (c) => seen.push(Buffer.from(c)),
      });
      expect(sha256(Buffer.concat(seen))).toBe(sha256(plain));
    });
  });

  describe('whiteouts', () => {
    beforeEach(async () => {
      // A lower layer already in the destination.
      await mkdir(join(dest, 'a'), { recursive: true });
      await mkdir(join(dest, 'b', 'sub'), { recursive: true });
      await writeFile(join(dest, 'a', 'x'), 'lower');
      await writeFile(join(dest, 'a', 'y'), 'lower');
      await writeFile(join(dest, 'b', 'old'), 'lower');
      await writeFile(join(dest, 'b', 'sub', 'deep'), 'lower');
      before = await listTree(root);
    });
    const layer: RawEntry[] = [
      { name: 'a/.wh.x', content: '' },
      { name: 'b/', type: 'dir', mode: 0o755 },
      { name: 'b/.wh..wh..opq', content: '' },
      { name: 'b/new', content: 'upper' },
      { name: 'c/.wh.nothing', content: '' },
    ];

    it('deletes whited-out names and empties opaque directories of lower content', async () => {
      const tree = await extractTarGz(chunked(rawTar(layer)), dest, { applyWhiteouts: true });
      expect(await listTree(dest)).toEqual(['a', 'a/y', 'b', 'b/new', 'c']);
      expect(tree.map((e) => e.path)).toEqual(['b/new']);
    });

    it('never deletes what the same layer created', async () => {
      await extractTarGz(
        chunked(
          rawTar([
            { name: 'd/keep', content: 'same layer' },
            { name: 'd/.wh..wh..opq', content: '' },
            { name: 'd/.wh.keep', content: '' },
          ]),
        ),
        dest,
        { applyWhiteouts: true },
      );
      expect(await readFile(join(dest, 'd', 'keep'), 'utf8')).toBe('same layer');
    });

    it('keeps what the same layer wrote into a lower directory it then whites out', async () => {
      // 'a' comes from the lower layer; this layer writes a/new, then '.wh.a'.
      const tree = await extractTarGz(
        chunked(
          rawTar([
            { name: 'a/new', content: 'same layer' },
            { name: '.wh.a', content: '' },
          ]),
        ),
        dest,
        { applyWhiteouts: true },
      );
      expect(tree.map((e) => e.path)).toEqual(['a/new']);
      expect(await readFile(join(dest, 'a', 'new'), 'utf8')).toBe('same layer');
      // The lower layer's files under a/ are gone.
      expect((await listTree(dest)).filter((p) => p.startsWith('a/'))).toEqual(['a/new']);
    });

    it('refuses a whiteout that climbs out of the root', async () => {
      await expectRefused(
        [{ name: '../../outside/.wh.secret', content: '' }],
        'ARCHIVE_UNSAFE_PATH',
      );
    });

    it.each(['.wh...', 'a/.wh...', 'a/.wh..'])(
      'refuses the whiteout %j that would delete a parent',
      async (name) => {
        await expectRefused([{ name, content: '' }], 'ARCHIVE_UNSAFE_PATH', {
          applyWhiteouts: true,
        });
        expect(await readFile(join(dest, 'a', 'x'), 'utf8')).toBe('lower');
      },
    );

    it('extracts them as plain files when whiteouts are off', async () => {
      await extractTarGz(chunked(rawTar(layer)), dest);
      expect(await readFile(join(dest, 'a', 'x'), 'utf8')).toBe('lower');
      expect((await lstat(join(dest, 'b', '.wh..wh..opq'))).isFile()).toBe(true);
    });
  });
});

describe('readTarGz', () => {
  it('returns entries with digest, size, mode and small contents only', async () => {
    const entries = await readTarGz(
      chunked(
        rawTar([
          { name: 'dir/', type: 'dir' },
          { name: 'dir/small', content: 'abc', mode: 0o640 },
          { name: 'dir/big', content: 'x'.repeat(100), mode: 0o755 },
          { name: 'dir/l', type: 'symlink', linkname: '/abs/ok/for/reading' },
        ]),
      ),
      { maxContent: 10 },
    );
    expect(entries.map((e) => e.path)).toEqual(['dir/big', 'dir/l', 'dir/small']);
    expect(entries[2]).toEqual({
      path: 'dir/small',
      kind: 'file',
      executable: false,
      digest: sha256('abc'),
      size: 3,
      mode: 0o640,
      content: Buffer.from('abc'),
    });
    expect(entries[0]).not.toHaveProperty('content');
    expect(entries[0]).toMatchObject({ executable: true, size: 100 });
    expect(entries[1]).toMatchObject({ kind: 'symlink', target: '/abs/ok/for/reading' });
  });

  it('refuses unsafe paths and duplicates', async () => {
    await expect(readTarGz(chunked(rawTar([{ name: '../x', content: '' }])))).rejects.toMatchObject(
      {
        code: 'ARCHIVE_UNSAFE_PATH',
      },
    );
    await expect(
      readTarGz(
        chunked(
          rawTar([
            { name: 'x', content: '' },
            { name: 'x', content: '' },
          ]),
        ),
      ),
    ).rejects.toMatchObject({ code: 'ARCHIVE_DUPLICATE_ENTRY' });
  });
});
