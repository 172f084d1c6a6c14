import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError, sha256, type Digest } from '../core/index.js';
import { Store } from '../store/index.js';
import { makeTempDir, removeDir } from '../../test/helpers/store.js';
import type { RegistryClient } from './client.js';
import { parseManifest } from '../oci/index.js';
import { mapLimit } from './retry.js';
import { pullArtifact } from './transfer.js';

/** A promise with its resolve handle. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('mapLimit', () => {
  it('keeps input order and never runs more than `limit` at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([3, 1, 2, 5, 4], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await Promise.resolve();
      running--;
      return n * 10;
    });
    expect(out).toEqual([30, 10, 20, 50, 40]);
    expect(most).toBe(2);
  });

  describe('when one call fails', () => {
    it('rejects only after every running sibling has settled, and aborts their signal', async () => {
      const gate = deferred();
      let siblingDone = false;
      let siblingSawAbort = false;
      let settled = false;
      const p = mapLimit(['slow', 'bad'], 2, async (item, _i, signal) => {
        if (item === 'bad') throw new Error('bad item');
        await gate.promise;
        siblingSawAbort = signal.aborted;
        siblingDone = true;
        return item;
      }).finally(() => {
        settled = true;
      });
      // Let the failing call reject and mapLimit react to it.
      for (let i = 0; i < 20; i++) await Promise.resolve();
      expect(settled).toBe(false);
      gate.resolve();
      await expect(p).rejects.toThrow('bad item');
      expect(siblingDone).toBe(true);
      expect(siblingSawAbort).toBe(true);
    });

    it('starts no further item after the failure', async () => {
      const started: number[] = [];
      await expect(
        mapLimit([0, 1, 2, 3, 4], 1, async (n) => {
          started.push(n);
          if (n === 1) throw new Error('stop');
          return Promise.resolve(n);
        }),
      ).rejects.toThrow('stop');
      expect(started).toEqual([0, 1]);
    });
  });
});

describe('pullArtifact when one blob is tampered with', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await makeTempDir('airlock-pull-');
    store = await Store.open(join(dir, 'store'));
  });
  afterEach(async () => {
    store.close();
    await removeDir(dir);
  });

  it('rejects only after the sibling download stopped, leaving nothing in tmp/ and no tag', async () => {
    const good = Buffer.alloc(3 << 20, 7);
    const bad = Buffer.from('the registry serves other bytes than the manifest says');
    const goodDigest = sha256(good);
    const badDigest = sha256('what the manifest promised');
    const manifestDoc = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: goodDigest,
        size: good.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: badDigest,
          size: bad.length,
        },
      ],
    };
    const bytes = Buffer.from(JSON.stringify(manifestDoc));
    const manifest = parseManifest(bytes, manifestDoc.mediaType, 'fake');
    // The good blob sends its first MiB, then stalls; the bad one is served once the good one is being written.
    const goodStarted = deferred();
    const stalled = deferred();
    const client = {
      registry: 'fake.test',
      getManifest: () =>
        Promise.resolve({
          descriptor: {
            mediaType: manifestDoc.mediaType,
            digest: sha256(bytes),
            size: bytes.length,
          },
          bytes,
          manifest,
        }),
      async *blobStream(_repo: string, desc: { digest: Digest }) {
        if (desc.digest === badDigest) {
          await goodStarted.promise;
          yield bad;
          return;
        }
        yield good.subarray(0, 1 << 20);
        goodStarted.resolve();
        await stalled.promise;
        yield good.subarray(1 << 20);
      },
    } as unknown as RegistryClient;

    const err = await pullArtifact(client, 'r', 'latest', store, 'r:latest', {
      attachments: false,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const leftover = await readdir(store.tmpDir);
    stalled.resolve();
    expect(err).toBeInstanceOf(AirlockError);
    expect(leftover).toEqual([]);
    expect(await store.has(badDigest)).toBe(false);
    expect(await store.has(goodDigest)).toBe(false);
    expect(await store.listTags()).toEqual([]);
  });
});
