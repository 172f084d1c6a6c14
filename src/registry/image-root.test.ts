import {
  existsSync,
  lstatSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rawTar } from '../../test/helpers/archive.js';
import { storeImage } from '../../test/helpers/rootfs.js';
import { sha256, type AirlockEvent } from '../core/index.js';
import { Store } from '../store/index.js';
import { RegistryClient } from './client.js';
import { ensureImageRoot, imageRootDir, readImageRoot } from './image-root.js';

// The store already holds every image here, so the client is never contacted
// (port 1 would refuse): these tests also prove an unpacked-once root needs no network.
const offline = new RegistryClient('127.0.0.1:1', { insecure: ['127.0.0.1:1'], retries: 0 });

describe('ensureImageRoot', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-image-root-'));
    store = await Store.open(join(dir, 'store'));
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const unpack = async (layers: Buffer[]) => {
    const image = await storeImage(store, layers);
    return { image, root: await ensureImageRoot(offline, 'tools/x', image.digest, store) };
  };

  describe('with layers applied in order', () => {
    it('applies whiteouts and opaque directories, rebases absolute links, drops devices', async () => {
      const { image, root } = await unpack([
        rawTar([
          { name: 'usr/bin/tool', content: 'v1', mode: 0o755 },
          { name: 'etc/old.conf', content: 'old' },
          { name: 'var/cache/a', content: 'a' },
          { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' },
          { name: 'dev/null', type: 'char' },
          { name: 'usr/bin/suid', content: 's', mode: 0o4755 },
        ]),
        rawTar([
          { name: 'usr/bin/tool', content: 'v2', mode: 0o755 },
          { name: 'etc/.wh.old.conf' },
          { name: 'var/cache/.wh..wh..opq' },
          { name: 'var/cache/b', content: 'b' },
        ]),
      ]);
      expect(root.cached).toBe(false);
      expect(root.root).toBe(join(imageRootDir(store.paths.roots, image.digest), 'rootfs'));
      expect(readFileSync(join(root.root, 'usr/bin/tool'), 'utf8')).toBe('v2');
      expect(existsSync(join(root.root, 'etc/old.conf'))).toBe(false);
      expect(readdirSync(join(root.root, 'var/cache'))).toEqual(['b']);
      expect(readlinkSync(join(root.root, 'etc/localtime'))).toBe('../usr/share/zoneinfo/UTC');
      expect(existsSync(join(root.root, 'dev/null'))).toBe(false);
      expect(lstatSync(join(root.root, 'usr/bin/suid')).mode & 0o7000).toBe(0);
      expect(await readImageRoot(store.paths.roots, image.digest)).toMatchObject({
        format: 'airlock.image-root/v1',
        manifest: image.digest,
        layers: image.layers,
      });
    });

    it('re-uses a root unpacked before', async () => {
      const { image } = await unpack([rawTar([{ name: 'a', content: 'a' }])]);
      const again = await ensureImageRoot(offline, 'tools/x', image.digest, store);
      expect(again.cached).toBe(true);
      expect(readFileSync(join(again.root, 'a'), 'utf8')).toBe('a');
    });
  });

  describe('when a layer tries to escape', () => {
    for (const [label, entry, code] of [
      ['a ".." path', { name: '../evil', content: 'x' }, 'ARCHIVE_UNSAFE_PATH'],
      ['an absolute path', { name: '/etc/evil', content: 'x' }, 'ARCHIVE_UNSAFE_PATH'],
      [
        'a relative symlink out of the root',
        { name: 'a', type: 'symlink' as const, linkname: '../../outside' },
        'ARCHIVE_UNSAFE_LINK',
      ],
      [
        'a hard link to a host file',
        { name: 'h', type: 'hardlink' as const, linkname: '/etc/passwd' },
        'ARCHIVE_UNSAFE_LINK',
      ],
    ] as const) {
      it(`refuses ${label} and leaves no root and nothing in tmp`, async () => {
        const image = await storeImage(store, [rawTar([entry])]);
        await expect(
          ensureImageRoot(offline, 'tools/x', image.digest, store),
        ).rejects.toMatchObject({ code });
        expect(existsSync(imageRootDir(store.paths.roots, image.digest))).toBe(false);
        expect(readdirSync(store.tmpDir).filter((n) => n.startsWith('root-'))).toEqual([]);
        expect(existsSync(join(dir, 'evil'))).toBe(false);
      });
    }

    it('refuses writing through a symlink of a lower layer', async () => {
      const image = await storeImage(store, [
        rawTar([{ name: 'lnk', type: 'symlink', linkname: '/' }]),
        rawTar([{ name: 'lnk/escaped', content: 'x' }]),
      ]);
      await expect(ensureImageRoot(offline, 'tools/x', image.digest, store)).rejects.toMatchObject({
        code: 'ARCHIVE_UNSAFE_LINK',
      });
    });
  });

  it('refuses an image with a layer type it cannot unpack', async () => {
    const layer = await store.putBytes(Buffer.from('zstd?'));
    const cfg = await store.putBytes(Buffer.from('{}'));
    const m = await store.putBytes(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', ...layer }],
        }),
      ),
    );
    await expect(ensureImageRoot(offline, 'tools/x', m.digest, store)).rejects.toMatchObject({
      code: 'IMAGE_ROOT_UNSUPPORTED',
    });
  });

  /** Stores an image whose layers and config diff_ids are given as they are, right or wrong. */
  const rawImage = async (
    layers: { bytes: Buffer; mediaType: string }[],
    diffIds: string[],
  ): Promise<`sha256:${string}`> => {
    const descs = [];
    for (const l of layers)
      descs.push({ mediaType: l.mediaType, ...(await store.putBytes(l.bytes)) });
    const cfg = await store.putBytes(
      Buffer.from(JSON.stringify({ os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } })),
    );
    const m = await store.putBytes(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
          layers: descs,
        }),
      ),
    );
    return m.digest;
  };
  const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
  const TAR = 'application/vnd.oci.image.layer.v1.tar';

  describe('when the image contradicts itself', () => {
    it('refuses a layer whose uncompressed digest is not its diff_id, leaving no root', async () => {
      const real = rawTar([{ name: 'a', content: 'a' }]);
      const digest = await rawImage([{ bytes: real, mediaType: GZ }], [sha256('another tar')]);
      await expect(ensureImageRoot(offline, 'tools/x', digest, store)).rejects.toMatchObject({
        code: 'IMAGE_INVALID',
        message: expect.stringMatching(/diff_ids\[0\]/),
      });
      expect(existsSync(imageRootDir(store.paths.roots, digest))).toBe(false);
      expect(readdirSync(store.tmpDir).filter((n) => n.startsWith('root-'))).toEqual([]);
    });

    it('refuses a config that does not list one diff_id per layer', async () => {
      const real = rawTar([{ name: 'a', content: 'a' }]);
      const digest = await rawImage([{ bytes: real, mediaType: GZ }], []);
      await expect(ensureImageRoot(offline, 'tools/x', digest, store)).rejects.toMatchObject({
        code: 'IMAGE_INVALID',
      });
    });

    it('refuses a plain tar labelled gzip', async () => {
      const plain = rawTar([{ name: 'a', content: 'a' }], { plain: true });
      const digest = await rawImage([{ bytes: plain, mediaType: GZ }], [sha256(plain)]);
      await expect(ensureImageRoot(offline, 'tools/x', digest, store)).rejects.toMatchObject({
        code: 'ARCHIVE_CORRUPT',
        message: expect.stringMatching(/gzip magic/),
      });
    });

    it('accepts the same plain tar labelled as a plain tar', async () => {
      const plain = rawTar([{ name: 'a', content: 'a' }], { plain: true });
      const digest = await rawImage([{ bytes: plain, mediaType: TAR }], [sha256(plain)]);
      const root = await ensureImageRoot(offline, 'tools/x', digest, store);
      expect(readFileSync(join(root.root, 'a'), 'utf8')).toBe('a');
    });
  });

  describe('with a tree check (treeOf)', () => {
    // A stand-in tree digest: the digest of every file's path and content.
    const treeOf = async (rootfs: string): Promise<`sha256:${string}`> => {
      const parts: string[] = [];
      const walk = (rel: string): void => {
        for (const e of readdirSync(join(rootfs, rel), { withFileTypes: true }).sort((a, b) =>
          a.name < b.name ? -1 : 1,
        )) {
          const p = rel === '' ? e.name : `${rel}/${e.name}`;
          if (e.isDirectory()) walk(p);
          else if (e.isFile()) parts.push(`${p}\0${readFileSync(join(rootfs, p), 'utf8')}`);
        }
      };
      walk('');
      return Promise.resolve(sha256(parts.join('\n')));
    };

    it('records the tree, re-uses an intact root and unpacks an altered one again', async () => {
      const image = await storeImage(store, [rawTar([{ name: 'bin/tool', content: 'good' }])]);
      const first = await ensureImageRoot(offline, 'tools/x', image.digest, store, { treeOf });
      expect((await readImageRoot(store.paths.roots, image.digest))?.tree).toBe(
        await treeOf(first.root),
      );
      const intact = await ensureImageRoot(offline, 'tools/x', image.digest, store, { treeOf });
      expect(intact.cached).toBe(true);

      writeFileSync(join(first.root, 'bin/tool'), 'evil');
      const events: AirlockEvent[] = [];
      const again = await ensureImageRoot(offline, 'tools/x', image.digest, store, {
        treeOf,
        events: (e) => events.push(e),
      });
      expect(again.cached).toBe(false);
      expect(readFileSync(join(again.root, 'bin/tool'), 'utf8')).toBe('good');
      expect(events.some((e) => e.type === 'log' && /was altered/.test(e.message))).toBe(true);
    });
  });
});
