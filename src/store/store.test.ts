import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError, digestJson, fixedClock, sha256, type AirlockEvent } from '../core/index.js';
import { flipByte, makeTempDir, putTinyImage, removeDir } from '../../test/helpers/store.js';
import { MEDIA, REF_NAME_ANNOTATION } from '../oci/index.js';
import { Store, defaultStoreRoot, type StoreErrorCode } from './index.js';

async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<AirlockError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AirlockError);
  expect((err as AirlockError).code).toBe(code);
  return err as AirlockError;
}

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) {
    await Promise.resolve();
    yield Buffer.from(p);
  }
}

let dir: string;
let store: Store;
const events: AirlockEvent[] = [];

beforeEach(async () => {
  dir = await makeTempDir();
  events.length = 0;
  store = await Store.open(join(dir, 'store'), { events: (e) => events.push(e) });
});

afterEach(async () => {
  store.close();
  await removeDir(dir);
});

describe('Store.open', () => {
  it('creates a valid OCI image layout with Airlock metadata', async () => {
    expect(JSON.parse(await readFile(join(store.root, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
    const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8'));
    expect(index).toEqual({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [] });
    expect((await stat(join(store.root, 'blobs', 'sha256'))).isDirectory()).toBe(true);
    expect((await stat(join(store.root, 'airlock', 'v1', 'meta.sqlite'))).isFile()).toBe(true);
    expect(store.tmpDir).toBe(join(store.root, 'tmp'));
  });

  describe('when the directory cannot be created', () => {
    it('rejects a path under a regular file with STORE_NOT_WRITABLE naming the path', async () => {
      const file = join(dir, 'plain-file');
      await writeFile(file, 'x');
      const err = await rejectsWith(Store.open(join(file, 'store')), 'STORE_NOT_WRITABLE');
      expect(err.details?.['path']).toBe(join(file, 'store'));
      expect(err.hint).toMatch(/AIRLOCK_HOME/);
    });

    it('rejects a root that is itself a regular file', async () => {
      const file = join(dir, 'also-a-file');
      await writeFile(file, 'x');
      await rejectsWith(Store.open(file), 'STORE_NOT_WRITABLE');
    });
  });

  it('rejects a layout of another version with STORE_FORMAT', async () => {
    const other = join(dir, 'other');
    const s = await Store.open(other);
    s.close();
    await writeFile(join(other, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await rejectsWith(Store.open(other), 'STORE_FORMAT');
  });
});

describe('defaultStoreRoot', () => {
  it('prefers AIRLOCK_HOME, else ~/.cache/airlock', () => {
    expect(defaultStoreRoot({ AIRLOCK_HOME: '/srv/al' })).toBe('/srv/al');
    expect(defaultStoreRoot({ HOME: '/home/ana' })).toBe('/home/ana/.cache/airlock');
  });
});

describe('put and get', () => {
  it('round-trips bytes, streams, files and canonical JSON', async () => {
    const a = await store.putBytes(Buffer.from('alpha'));
    expect(a).toEqual({ digest: sha256('alpha'), size: 5 });
    expect((await store.getBytes(a.digest)).toString()).toBe('alpha');

    const b = await store.putStream(chunks('be', 'ta'));
    expect(b.digest).toBe(sha256('beta'));

    const src = join(dir, 'src.bin');
    await writeFile(src, 'gamma');
    const c = await store.putFile(src, { digest: sha256('gamma'), size: 5 });
    expect(await readFile(await store.verifiedPath(c.digest), 'utf8')).toBe('gamma');

    // Thousands of chunks of uneven sizes, past several write batches: every byte lands in order.
    const many = Array.from({ length: 3000 }, (_, i) =>
      Buffer.alloc(1 + ((i * 7919) % 4099), i % 251),
    );
    const whole = Buffer.concat(many);
    const m = await store.putStream(
      (async function* () {
        for (const c of many) {
          await Promise.resolve();
          yield c;
        }
      })(),
      { digest: sha256(whole), size: whole.length },
    );
    expect(m.size).toBe(whole.length);
    expect((await store.getBytes(m.digest)).equals(whole)).toBe(true);

    // A large blob (hashed off the main thread) is checked against its digest all the same.
    const large = Buffer.alloc(9 << 20, 7);
    const source = async function* (): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < large.length; at += 1 << 20) {
        await Promise.resolve();
        yield large.subarray(at, at + (1 << 20));
      }
    };
    const l = await store.putStream(source(), { digest: sha256(large), size: large.length });
    expect((await store.getBytes(l.digest)).equals(large)).toBe(true);
    const wrong = await store
      .putStream(source(), { digest: sha256('not it'), size: large.length })
      .catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: 'DIGEST_MISMATCH' });

    const j = await store.putJson({ b: 1, a: [2] });
    expect(j.digest).toBe(digestJson({ a: [2], b: 1 }));
    expect(await store.getJson(j.digest)).toEqual({ a: [2], b: 1 });
    expect((await readFile(store.blobPath(j.digest))).toString()).toBe('{"a":[2],"b":1}');
  });

  it('stores blobs read-only under blobs/sha256/<hex>', async () => {
    const { digest } = await store.putBytes(Buffer.from('ro'));
    const st = await stat(join(store.root, 'blobs', 'sha256', digest.slice(7)));
    expect(st.mode & 0o777).toBe(0o444);
  });

  it('reports a missing blob as BLOB_NOT_FOUND and an invalid digest as INVALID_DIGEST', async () => {
    await rejectsWith(store.getBytes(sha256('absent')), 'BLOB_NOT_FOUND');
    await rejectsWith(store.verifiedPath(sha256('absent')), 'BLOB_NOT_FOUND');
    expect(await store.has(sha256('absent'))).toBe(false);
    await expect(store.getBytes('sha256:../../etc/passwd')).rejects.toMatchObject({
      code: 'INVALID_DIGEST',
    });
  });

  describe('when the content does not match what was expected', () => {
    const cases: { name: string; code: StoreErrorCode; put: () => Promise<unknown> }[] = [
      {
        name: 'putBytes with a wrong digest',
        code: 'DIGEST_MISMATCH',
        put: () => store.putBytes(Buffer.from('x'), { digest: sha256('y') }),
      },
      {
        name: 'putBytes with a wrong size',
        code: 'SIZE_MISMATCH',
        put: () => store.putBytes(Buffer.from('x'), { size: 2 }),
      },
      {
        name: 'putStream with a wrong digest',
        code: 'DIGEST_MISMATCH',
        put: () => store.putStream(chunks('a', 'b'), { digest: sha256('ba') }),
      },
      {
        name: 'putStream longer than expected',
        code: 'SIZE_MISMATCH',
        put: () => store.putStream(chunks('abc', 'def'), { size: 4 }),
      },
      {
        name: 'putStream shorter than expected',
        code: 'SIZE_MISMATCH',
        put: () => store.putStream(chunks('abc'), { size: 4 }),
      },
    ];
    it.each(cases)('$name rejects with $code and leaves nothing in blobs/ or tmp/', async (c) => {
      await rejectsWith(c.put(), c.code);
      expect(await readdir(join(store.root, 'blobs', 'sha256'))).toEqual([]);
      expect(await readdir(store.tmpDir)).toEqual([]);
    });

    it('putFile of a changed file rejects with DIGEST_MISMATCH', async () => {
      const src = join(dir, 'f');
      await writeFile(src, 'new content');
      const err = await rejectsWith(
        store.putFile(src, { digest: sha256('old content') }),
        'DIGEST_MISMATCH',
      );
      expect(err.details?.['actualDigest']).toBe(sha256('new content'));
      expect(await store.has(sha256('new content'))).toBe(false);
    });
  });

  it('lets many concurrent puts of the same content all succeed with one blob', async () => {
    const data = Buffer.alloc(200_000, 7);
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 2 === 0 ? store.putBytes(data) : store.putStream(chunks(data.toString('latin1'))),
      ),
    );
    expect(new Set(results.map((r) => r.digest))).toEqual(new Set([sha256(data)]));
    expect(await readdir(join(store.root, 'blobs', 'sha256'))).toEqual([sha256(data).slice(7)]);
    expect(await readdir(store.tmpDir)).toEqual([]);
    expect((await store.getBytes(sha256(data))).equals(data)).toBe(true);
  });
});

describe('when the blob already exists', () => {
  it('keeps the existing file instead of overwriting it', async () => {
    const { digest } = await store.putBytes(Buffer.from('same'));
    const before = await stat(store.blobPath(digest));
    await store.putBytes(Buffer.from('same'));
    const after = await stat(store.blobPath(digest));
    expect(after.ino).toBe(before.ino);
    expect(await readdir(store.tmpDir)).toEqual([]);
  });

  it('replaces a truncated copy (wrong size) with the good content', async () => {
    const { digest } = await store.putBytes(Buffer.from('complete content'));
    await chmod(store.blobPath(digest), 0o644);
    await writeFile(store.blobPath(digest), 'compl');
    await store.putBytes(Buffer.from('complete content'));
    expect((await store.getBytes(digest)).toString()).toBe('complete content');
    expect(await readdir(join(store.root, 'quarantine'))).toHaveLength(1);
  });
});

describe('when a stored blob has a flipped byte', () => {
  it.each(['getBytes', 'verifiedPath'] as const)(
    '%s throws BLOB_CORRUPT, quarantines it and fsck is clean afterwards',
    async (read) => {
      const keep = await store.putBytes(Buffer.from('keep me'));
      const { digest } = await store.putBytes(Buffer.from('precious bytes'));
      await flipByte(store.blobPath(digest), 3);

      const err = await rejectsWith(store[read](digest), 'BLOB_CORRUPT');
      expect(err.details).toMatchObject({
        digest,
        path: store.blobPath(digest),
        actualDigest: sha256('prebious bytes'), // 'c' (0x63) with its low bit flipped
      });
      expect(await store.has(digest)).toBe(false);
      const quarantined = await readdir(join(store.root, 'quarantine'));
      expect(quarantined).toHaveLength(1);
      expect(quarantined[0]).toMatch(new RegExp(`^sha256-${digest.slice(7)}\\.`));
      expect(
        events.some((e) => e.type === 'log' && e.level === 'warn' && e.message.includes(digest)),
      ).toBe(true);

      const report = await store.fsck();
      expect(report.ok).toBe(true);
      expect(report.corrupt).toBe(0);
      expect(report.blobsChecked).toBe(1);
      expect(await store.has(keep.digest)).toBe(true);

      // Storing the content again heals the store.
      await store.putBytes(Buffer.from('precious bytes'));
      expect((await store.getBytes(digest)).toString()).toBe('precious bytes');
    },
  );
});

describe('tags', () => {
  it('sets, replaces, resolves and lists tags sorted by bytes', async () => {
    const one = await putTinyImage(store, 'one');
    const two = await putTinyImage(store, 'two');
    await store.setTag('b', one.manifest);
    await store.setTag('a/x:1', two.manifest);
    await store.setTag('B', two.manifest);
    expect(await store.resolveTag('b')).toEqual(one.manifest);

    await store.setTag('b', two.manifest);
    expect(await store.resolveTag('b')).toEqual(two.manifest);
    expect(await store.resolveTag('missing')).toBeUndefined();
    await rejectsWith(store.requireTag('missing'), 'TAG_NOT_FOUND');
    expect((await store.listTags()).map((t) => t.name)).toEqual(['B', 'a/x:1', 'b']);

    await store.deleteTag('B');
    await rejectsWith(store.deleteTag('B'), 'TAG_NOT_FOUND');
    expect((await store.listTags()).map((t) => t.name)).toEqual(['a/x:1', 'b']);
  });

  it('never puts back an older list over a tag change another store made while index.json was being written', async () => {
    const img = await putTinyImage(store);
    await store.setTag('z', img.manifest);
    const other = await Store.open(store.root);
    try {
      const setting = store.setTag('x', img.manifest);
      // Wait until this store has rendered its copy and is writing it (its temp
      // file exists, not yet renamed), then delete a tag from the other store.
      const writing = (): boolean => readdirSync(store.tmpDir).some((n) => n.startsWith('index-'));
      for (let turns = 0; !writing(); turns++) {
        expect(turns).toBeLessThan(10_000);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await other.deleteTag('z');
      await setting;
      const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8')) as {
        manifests: { annotations: Record<string, string> }[];
      };
      expect(index.manifests.map((m) => m.annotations[REF_NAME_ANNOTATION])).toEqual(['x']);
      expect(await readdir(store.tmpDir)).toEqual([]);
    } finally {
      other.close();
    }
  });

  it('lists every tag in index.json once each of many tags set at once has been set', async () => {
    const img = await putTinyImage(store);
    const names = Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    await Promise.all(
      names.map(async (name) => {
        await store.setTag(name, img.manifest);
        const text = await readFile(join(store.root, 'index.json'), 'utf8');
        expect(text).toContain(`"${REF_NAME_ANNOTATION}":"${name}"`);
      }),
    );
    const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8'));
    expect(index.manifests).toHaveLength(names.length);
    expect(await readdir(store.tmpDir)).toEqual([]);
  });

  it('keeps index.json a valid OCI index that names every tag', async () => {
    const img = await putTinyImage(store);
    await store.setTag('v1', { ...img.manifest, annotations: { 'org.example': 'yes' } });
    await store.setTag('latest', img.manifest);
    const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8'));
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(MEDIA.ociIndex);
    expect(index.manifests).toEqual([
      { ...img.manifest, annotations: { [REF_NAME_ANNOTATION]: 'latest' } },
      { ...img.manifest, annotations: { 'org.example': 'yes', [REF_NAME_ANNOTATION]: 'v1' } },
    ]);
    expect(await readdir(store.tmpDir)).toEqual([]);
  });

  it('rejects an invalid tag name and a manifest that is not stored', async () => {
    const img = await putTinyImage(store);
    await rejectsWith(store.setTag('../evil', img.manifest), 'INVALID_TAG');
    await rejectsWith(
      store.setTag('ok', { ...img.manifest, digest: sha256('nope') }),
      'BLOB_NOT_FOUND',
    );
    expect(await store.listTags()).toEqual([]);
  });

  it('regenerates a deleted or stale index.json when the store is reopened', async () => {
    const img = await putTinyImage(store);
    await store.setTag('v1', img.manifest);
    const before = await readFile(join(store.root, 'index.json'), 'utf8');
    await writeFile(join(store.root, 'index.json'), '{"broken":');
    const again = await Store.open(store.root);
    again.close();
    expect(await readFile(join(store.root, 'index.json'), 'utf8')).toBe(before);
  });
});

describe('action cache', () => {
  it('stores, replaces (last write wins) and deletes entries', async () => {
    const key = sha256('action');
    const r1 = await store.putJson({ out: 1 });
    const r2 = await store.putJson({ out: 2 });
    expect(await store.getAction(key)).toBeUndefined();
    await store.putAction(key, r1.digest);
    await store.putAction(key, r2.digest);
    expect(await store.getAction(key)).toMatchObject({ key, result: r2.digest });
    await store.deleteAction(key);
    expect(await store.getAction(key)).toBeUndefined();
  });

  it('refuses a result that is not stored', async () => {
    await rejectsWith(store.putAction(sha256('k'), sha256('no result')), 'BLOB_NOT_FOUND');
  });
});

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2024, 0, 1);

describe('gc', () => {
  it('keeps what tags and young actions reach, deletes old unreferenced blobs, respects dryRun', async () => {
    const old = await Store.open(store.root, { clock: fixedClock(T0) });
    const img = await putTinyImage(old);
    await old.setTag('release', img.manifest);
    const garbage = await old.putBytes(Buffer.from('nobody wants me'));
    const treeFile = await old.putBytes(Buffer.from('output file'));
    const tree = await old.putJson({ entries: [['bin/app', 'file', true, treeFile.digest]] });
    const youngResult = await old.putJson({ tree: `tree@${tree.digest}`, exit: 0 });
    const oldResult = await old.putJson({ exit: 1 });
    await old.putAction(sha256('old action'), oldResult.digest);
    old.close();

    const later = await Store.open(store.root, { clock: fixedClock(T0 + 10 * DAY) });
    await later.putAction(sha256('young action'), youngResult.digest);
    const fresh = await later.putBytes(Buffer.from('just written, not referenced yet'));

    const dry = await later.gc({ retentionMs: DAY, dryRun: true });
    const expectedFreed = [garbage.digest, oldResult.digest].sort();
    expect(dry).toMatchObject({
      dryRun: true,
      blobsFreed: 2,
      freed: expectedFreed,
      keptYoung: 1,
      actionsExpired: 1,
    });
    expect(await later.has(garbage.digest)).toBe(true);
    expect(await later.getAction(sha256('old action'))).toBeDefined();

    const real = await later.gc({ retentionMs: DAY });
    expect(real.freed).toEqual(expectedFreed);
    expect(real.bytesFreed).toBe(garbage.size + oldResult.size);
    for (const d of [
      img.manifest.digest,
      img.config.digest,
      img.layer.digest,
      tree.digest,
      treeFile.digest,
      youngResult.digest,
      fresh.digest,
    ]) {
      expect(await later.has(d)).toBe(true);
    }
    expect(await later.has(garbage.digest)).toBe(false);
    expect(await later.has(oldResult.digest)).toBe(false);
    expect(await later.getAction(sha256('old action'))).toBeUndefined();
    expect((await later.fsck()).ok).toBe(true);
    later.close();
  });
});

describe('fsck', () => {
  it('finds a dangling tag, a dangling layer reference and a corrupt blob', async () => {
    const img = await putTinyImage(store);
    await store.setTag('gone', img.manifest);
    const other = await putTinyImage(store, 'other');
    await store.setTag('partial', other.manifest);
    const bad = await store.putBytes(Buffer.from('will rot'));
    await chmod(store.blobPath(img.manifest.digest), 0o644);
    const { unlink } = await import('node:fs/promises');
    await unlink(store.blobPath(img.manifest.digest));
    await unlink(store.blobPath(other.layer.digest));
    await flipByte(store.blobPath(bad.digest));
    await writeFile(join(store.tmpDir, 'blob-leftover.part'), 'half');

    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.corrupt).toBe(1);
    expect(report.dangling).toBe(2);
    const kinds = report.problems.map((p) => [p.kind, p.digest ?? p.path]);
    expect(kinds).toContainEqual(['dangling-tag', img.manifest.digest]);
    expect(kinds).toContainEqual(['dangling-reference', other.layer.digest]);
    expect(kinds).toContainEqual(['corrupt-blob', bad.digest]);
    expect(kinds).toContainEqual(['leftover-tmp', join(store.tmpDir, 'blob-leftover.part')]);
    expect(await store.has(bad.digest)).toBe(false);
  });

  it('repairs old temp files and a stale index.json', async () => {
    const img = await putTinyImage(store);
    await store.setTag('v1', img.manifest);
    const leftover = join(store.tmpDir, 'blob-old.part');
    await writeFile(leftover, 'partial');
    // A build work directory left by a killed build, with files inside.
    await mkdir(join(store.tmpDir, 'work-old', 'dist'), { recursive: true });
    await writeFile(join(store.tmpDir, 'work-old', 'dist', 'x'), 'x');
    await writeFile(join(store.root, 'index.json'), '{}');

    const first = await store.fsck({ repair: true, tmpGraceMs: -60_000 });
    expect(first.ok).toBe(true);
    expect(first.problems.map((p) => [p.kind, p.repaired])).toEqual([
      ['leftover-tmp', true],
      ['leftover-tmp', true],
      ['index-out-of-sync', true],
    ]);
    expect(await readdir(store.tmpDir)).toEqual([]);
    expect((await store.fsck()).problems).toEqual([]);
  });

  it('finds an action whose result is missing and drops it on repair', async () => {
    const out = await store.putBytes(Buffer.from('out'));
    const result = await store.putJson({ out: out.digest });
    await store.putAction(sha256('k'), result.digest);
    await chmod(store.blobPath(out.digest), 0o644);
    const { unlink } = await import('node:fs/promises');
    await unlink(store.blobPath(out.digest));

    const report = await store.fsck({ repair: true });
    expect(report.problems).toContainEqual(
      expect.objectContaining({ kind: 'dangling-reference', digest: out.digest, repaired: true }),
    );
    expect((await store.fsck()).ok).toBe(true);
  });
});
