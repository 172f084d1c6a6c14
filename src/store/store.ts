import { createReadStream, readFileSync } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  open,
  readFile,
  rename,
  stat,
  unlink,
  utimes,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { AirlockError } from '../core/index.js';
import {
  DigestHasher,
  canonicalJson,
  digestHex,
  errnoCode,
  isAirlockError,
  noEvents,
  parseDigest,
  sha256,
  sortByBytes,
  systemClock,
  type Clock,
  type Digest,
  type EventSink,
} from '../core/index.js';
import { storeError, type StoreErrorCode } from './errors.js';
import {
  OCI_LAYOUT_VERSION,
  REF_NAME_ANNOTATION,
  parseDescriptor,
  type Descriptor,
} from '../oci/index.js';
import { blobFile, storePaths, type StorePaths } from './layout.js';
import { runFsck, runGc, type MaintenanceContext } from './maintenance.js';
import { MetaDb } from './meta.js';
import { fsyncDirSync, randomSuffix, renderIndex, replaceFileSync } from './ocifiles.js';
import type { ActionCacheEntry, Expect, FsckReport, GcReport } from './types.js';

export interface StoreOpenOptions {
  /** Time for blob mtimes, action entries and gc retention; defaults to the system clock. */
  clock?: Clock;
  /** Receives warnings (quarantined blobs) and fsck/gc progress. */
  events?: EventSink;
}

const READ_CHUNK = 1 << 20;
// A component of an OCI image-layout ref.name (image-layout spec, "ref" grammar).
const REF_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const TAG_RE = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);
const NOT_WRITABLE_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC']);
// Filesystems without hard links: fall back to check-then-rename (still atomic).
const NO_LINK_ERRNOS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);

function notWritable(path: string, err: unknown): AirlockError<StoreErrorCode> {
  return storeError(
    'STORE_NOT_WRITABLE',
    `the store at ${path} is not writable (${errnoCode(err) ?? String(err)})`,
    `Make ${path} a writable directory (check its parents and permissions), or set AIRLOCK_HOME to a writable directory.`,
    { path, errno: errnoCode(err) },
    err,
  );
}

function blobNotFound(digest: Digest, path: string): AirlockError<StoreErrorCode> {
  return storeError(
    'BLOB_NOT_FOUND',
    `blob ${digest} is not in the store`,
    'Fetch or build the content again (airlock fetch / airlock build) so it is stored.',
    { digest, path },
  );
}

/** Checks an Expect at the API boundary so a bad digest never reaches a path. */
function parseExpect(expect: Expect | undefined): Expect {
  const out: Expect = {};
  if (expect?.digest !== undefined) out.digest = parseDigest(expect.digest, 'expected digest');
  if (expect?.size !== undefined) {
    if (!Number.isSafeInteger(expect.size) || expect.size < 0) {
      throw storeError(
        'SIZE_MISMATCH',
        `expected size ${String(expect.size)} is not a non-negative integer`,
        'Pass the size in bytes as a whole number.',
        { expectedSize: expect.size },
      );
    }
    out.size = expect.size;
  }
  return out;
}

function sizeMismatch(
  expected: number,
  actual: number,
  atLeast: boolean,
): AirlockError<StoreErrorCode> {
  return storeError(
    'SIZE_MISMATCH',
    `content is ${atLeast ? 'at least ' : ''}${actual} bytes, expected ${expected}; nothing was stored`,
    'The source is truncated or altered: fetch it again, or fix the size recorded in the lock.',
    { expectedSize: expected, actualSize: actual },
  );
}

/** Rejects content whose size or digest differs from what the caller expects. */
function checkExpect(expect: Expect, digest: Digest, size: number): void {
  if (expect.size !== undefined && expect.size !== size)
    throw sizeMismatch(expect.size, size, false);
  if (expect.digest !== undefined && expect.digest !== digest) {
    throw storeError(
      'DIGEST_MISMATCH',
      `content has digest ${digest}, expected ${expect.digest}; nothing was stored`,
      'The source changed or was tampered with: fetch it again, or update the lock if the change is intended.',
      { expectedDigest: expect.digest, actualDigest: digest, size },
    );
  }
}

/** Validates a tag name against the OCI ref.name grammar. */
export function parseTagName(name: unknown): string {
  if (typeof name === 'string' && name.length <= 255 && TAG_RE.test(name)) return name;
  throw storeError(
    'INVALID_TAG',
    `${JSON.stringify(name)} is not a valid tag name`,
    'Use letters and digits separated by single ".", "-", "_", ":", "@", "+" or "/" (OCI ref.name).',
    { name },
  );
}

/** Writes all of `data` at the file's current position. */
async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) {
    const { bytesWritten } = await fh.write(data, off, data.byteLength - off);
    off += bytesWritten;
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/**
 * The local content-addressable store: an OCI image layout whose blobs are
 * written atomically and verified on every read, plus a SQLite index of tags
 * and action-cache entries. Safe for several processes at once.
 */
export class Store {
  readonly root: string;
  readonly tmpDir: string;
  private readonly paths: StorePaths;
  private readonly meta: MetaDb;
  private readonly clock: Clock;
  private readonly events: EventSink;

  private constructor(paths: StorePaths, meta: MetaDb, clock: Clock, events: EventSink) {
    this.paths = paths;
    this.root = paths.root;
    this.tmpDir = paths.tmp;
    this.meta = meta;
    this.clock = clock;
    this.events = events;
  }

  /**
   * Opens (creating if needed) the store at `root`; throws STORE_NOT_WRITABLE
   * when the layout cannot be created or written, STORE_FORMAT for a foreign layout.
   */
  static async open(root: string, opts: StoreOpenOptions = {}): Promise<Store> {
    const paths = storePaths(root);
    try {
      for (const dir of [paths.blobs, paths.tmp, paths.quarantine, paths.metaDir]) {
        await mkdir(dir, { recursive: true });
      }
      const probe = join(paths.tmp, `probe-${randomSuffix()}`);
      await (await open(probe, 'wx')).close();
      await unlink(probe);
    } catch (err) {
      if (NOT_WRITABLE_ERRNOS.has(errnoCode(err) ?? '')) throw notWritable(paths.root, err);
      throw err;
    }
    await ensureOciLayout(paths);
    let meta: MetaDb;
    try {
      meta = new MetaDb(paths.metaDb);
    } catch (err) {
      if (isAirlockError(err)) throw err;
      const code = errnoCode(err) ?? '';
      if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY')) {
        throw notWritable(paths.metaDb, err);
      }
      throw err;
    }
    const store = new Store(paths, meta, opts.clock ?? systemClock, opts.events ?? noEvents);
    try {
      store.reconcileIndex();
    } catch (err) {
      meta.close();
      throw err;
    }
    return store;
  }

  /** The blob file of `digest`, unverified: for internals that verify on their own. */
  blobPath(digest: Digest): string {
    return blobFile(this.paths, parseDigest(digest, 'blob digest'));
  }

  /** Stores `data`; a mismatch with `expect` throws before anything is written. */
  async putBytes(data: Uint8Array, expect?: Expect): Promise<{ digest: Digest; size: number }> {
    const want = parseExpect(expect);
    const digest = sha256(data);
    checkExpect(want, digest, data.byteLength);
    // Already stored (the digest is known before writing): refresh its age for
    // gc and skip the temp file and fsync, as the commit path would end up doing.
    const existing = await stat(blobFile(this.paths, digest)).catch(() => undefined);
    if (existing?.isFile() && existing.size === data.byteLength) {
      await this.touch(digest);
      return { digest, size: data.byteLength };
    }
    return this.writeBlob(async (fh, hasher) => {
      hasher.update(data);
      await writeAll(fh, data);
    }, want);
  }

  /** Stores a stream, hashing while writing; a size overrun aborts as soon as it is seen. */
  async putStream(
    src: AsyncIterable<Uint8Array>,
    expect?: Expect,
  ): Promise<{ digest: Digest; size: number }> {
    const want = parseExpect(expect);
    return this.writeBlob(async (fh, hasher) => {
      for await (const chunk of src) {
        hasher.update(chunk);
        if (want.size !== undefined && hasher.size > want.size) {
          throw sizeMismatch(want.size, hasher.size, true);
        }
        await writeAll(fh, chunk);
      }
    }, want);
  }

  /** Stores the content of the file at `path`. */
  async putFile(path: string, expect?: Expect): Promise<{ digest: Digest; size: number }> {
    return this.putStream(createReadStream(path, { highWaterMark: READ_CHUNK }), expect);
  }

  /** Stores the RFC 8785 canonical JSON of `value`; its digest is `digestJson(value)`. */
  async putJson(value: unknown): Promise<{ digest: Digest; size: number }> {
    return this.putBytes(Buffer.from(canonicalJson(value), 'utf8'));
  }

  /** True when a blob file for `digest` is present (not verified). */
  async has(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** The blob's bytes, only after they hash to `digest`; else quarantine + BLOB_CORRUPT. */
  async getBytes(digest: Digest): Promise<Buffer> {
    const d = parseDigest(digest, 'blob digest');
    const path = blobFile(this.paths, d);
    const fh = await this.openBlob(d, path);
    try {
      const data = await fh.readFile();
      const actual = sha256(data);
      if (actual !== d) await this.quarantine(d, path, fh, actual);
      return data;
    } finally {
      await fh.close();
    }
  }

  /** Parses a verified blob as JSON; content that is not JSON throws STORE_FORMAT. */
  async getJson<T = unknown>(digest: Digest): Promise<T> {
    const data = await this.getBytes(digest);
    try {
      return JSON.parse(data.toString('utf8')) as T;
    } catch (err) {
      throw storeError(
        'STORE_FORMAT',
        `blob ${digest} is not JSON`,
        'Read this blob with getBytes or verifiedPath; it holds binary content.',
        { digest },
        err,
      );
    }
  }

  /** Re-hashes the blob file and returns its path only when it matches `digest`. */
  async verifiedPath(digest: Digest): Promise<string> {
    const d = parseDigest(digest, 'blob digest');
    const path = blobFile(this.paths, d);
    const fh = await this.openBlob(d, path);
    try {
      const actual = await hashHandle(fh);
      if (actual.digest !== d) await this.quarantine(d, path, fh, actual.digest);
      return path;
    } finally {
      await fh.close();
    }
  }

  /** Points tag `name` at a stored manifest (replacing it) and rewrites index.json. */
  async setTag(name: string, manifest: Descriptor): Promise<void> {
    const tag = parseTagName(name);
    const desc = parseDescriptor(manifest, `tag ${tag}`);
    if (desc.annotations !== undefined) {
      delete desc.annotations[REF_NAME_ANNOTATION];
      if (Object.keys(desc.annotations).length === 0) delete desc.annotations;
    }
    if (!(await this.has(desc.digest))) throw blobNotFound(desc.digest, this.blobPath(desc.digest));
    await this.touch(desc.digest);
    const now = this.clock.now();
    this.meta.immediate(() => {
      this.meta.upsertTag(tag, canonicalJson(desc), now);
      replaceFileSync(this.paths, this.paths.index, renderIndex(this.meta.listTags()));
    });
  }

  /** Removes tag `name`; TAG_NOT_FOUND when it does not exist. */
  async deleteTag(name: string): Promise<void> {
    const tag = parseTagName(name);
    await Promise.resolve();
    this.meta.immediate(() => {
      if (!this.meta.deleteTag(tag)) throw tagNotFound(tag);
      replaceFileSync(this.paths, this.paths.index, renderIndex(this.meta.listTags()));
    });
  }

  /** The descriptor tag `name` points at, or undefined. */
  async resolveTag(name: string): Promise<Descriptor | undefined> {
    const row = this.meta.getTag(parseTagName(name));
    return Promise.resolve(
      row === undefined ? undefined : (JSON.parse(row.descriptor) as Descriptor),
    );
  }

  /** Like resolveTag, but a missing tag throws TAG_NOT_FOUND. */
  async requireTag(name: string): Promise<Descriptor> {
    const desc = await this.resolveTag(name);
    if (desc === undefined) throw tagNotFound(name);
    return desc;
  }

  /** Every tag, sorted by the bytes of its name. */
  async listTags(): Promise<{ name: string; descriptor: Descriptor }[]> {
    const rows = sortByBytes(this.meta.listTags(), (r) => r.name);
    return Promise.resolve(
      rows.map((r) => ({ name: r.name, descriptor: JSON.parse(r.descriptor) as Descriptor })),
    );
  }

  /** The cached result of an action; undefined when absent or its result blob is gone. */
  async getAction(key: Digest): Promise<ActionCacheEntry | undefined> {
    const row = this.meta.getAction(parseDigest(key, 'action key'));
    if (row === undefined) return undefined;
    const result = parseDigest(row.result, 'action result');
    if (!(await this.has(result))) {
      this.events({
        type: 'log',
        level: 'debug',
        message: `action ${key}: result ${result} is no longer stored; treating as a cache miss`,
      });
      return undefined;
    }
    return { key: parseDigest(row.key, 'action key'), result, createdAt: row.created_at };
  }

  /** Every action-cache entry, oldest first (entries whose result blob is gone included). */
  listActions(): Promise<ActionCacheEntry[]> {
    return Promise.resolve(
      this.meta
        .listActions()
        .map((r) => ({
          key: parseDigest(r.key, 'action key'),
          result: parseDigest(r.result, 'action result'),
          createdAt: r.created_at,
        }))
        .sort((a, b) => a.createdAt - b.createdAt),
    );
  }

  /** Records `key → result` (last write wins); the result blob must already be stored. */
  async putAction(key: Digest, result: Digest): Promise<void> {
    const k = parseDigest(key, 'action key');
    const r = parseDigest(result, 'action result');
    if (!(await this.has(r))) throw blobNotFound(r, this.blobPath(r));
    await this.touch(r);
    this.meta.putAction(k, r, this.clock.now());
  }

  /** Forgets the cache entry of `key` (no error when there is none). */
  async deleteAction(key: Digest): Promise<void> {
    this.meta.deleteAction(parseDigest(key, 'action key'));
    return Promise.resolve();
  }

  /** Checks every blob, reference and temp file; see FsckReport. */
  async fsck(opts: { repair?: boolean; tmpGraceMs?: number } = {}): Promise<FsckReport> {
    return runFsck(this.context(), opts);
  }

  /** Deletes blobs unreachable from tags and young action entries; see GcReport. */
  async gc(opts: { retentionMs: number; dryRun?: boolean }): Promise<GcReport> {
    return runGc(this.context(), opts);
  }

  /** Closes the metadata database; the Store must not be used afterwards. */
  close(): void {
    this.meta.close();
  }

  private context(): MaintenanceContext {
    return {
      store: this,
      paths: this.paths,
      meta: this.meta,
      clock: this.clock,
      events: this.events,
      indexText: () => renderIndex(this.meta.listTags()),
      rewriteIndex: () =>
        this.meta.immediate(() =>
          replaceFileSync(this.paths, this.paths.index, renderIndex(this.meta.listTags())),
        ),
      inspectBlob: (digest) => this.inspectBlob(digest),
    };
  }

  /** Hashes a blob file, quarantining it on mismatch; never throws BLOB_CORRUPT. */
  private async inspectBlob(
    digest: Digest,
  ): Promise<
    | { state: 'ok'; size: number }
    | { state: 'missing' }
    | { state: 'corrupt'; actual: Digest; size: number }
  > {
    const path = blobFile(this.paths, digest);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { state: 'missing' };
      throw err;
    }
    try {
      const actual = await hashHandle(fh);
      if (actual.digest === digest) return { state: 'ok', size: actual.size };
      try {
        await this.quarantine(digest, path, fh, actual.digest);
      } catch (err) {
        if (!isAirlockError(err, 'BLOB_CORRUPT')) throw err;
      }
      return { state: 'corrupt', actual: actual.digest, size: actual.size };
    } finally {
      await fh.close();
    }
  }

  private async openBlob(digest: Digest, path: string): Promise<FileHandle> {
    try {
      return await open(path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw blobNotFound(digest, path);
      throw err;
    }
  }

  /**
   * Moves a blob that failed verification to quarantine/ (only if the file at
   * `path` is still the one that was read), warns, and throws BLOB_CORRUPT.
   */
  private async quarantine(
    digest: Digest,
    path: string,
    fh: FileHandle,
    actual: Digest,
  ): Promise<never> {
    const read = await fh.stat();
    const target = join(
      this.paths.quarantine,
      `sha256-${digestHex(digest)}.${this.clock.now()}.${randomSuffix().slice(0, 4)}`,
    );
    let moved = false;
    try {
      const current = await lstat(path);
      if (current.ino === read.ino && current.dev === read.dev) {
        await rename(path, target);
        fsyncDirSync(this.paths.blobs);
        moved = true;
      }
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    this.events({
      type: 'log',
      level: 'warn',
      message: `blob ${digest} failed verification (its content hashes to ${actual})${moved ? `; moved to ${target}` : ''}`,
    });
    throw storeError(
      'BLOB_CORRUPT',
      `blob ${digest} is corrupt: its content hashes to ${actual}`,
      'The bad copy was moved to quarantine/; fetch or build the content again, and run `airlock fsck` to check the rest of the store.',
      { digest, path, actualDigest: actual, ...(moved ? { quarantinePath: target } : {}) },
    );
  }

  /** Marks a blob as recently used so a concurrent gc keeps it; best effort. */
  private async touch(digest: Digest): Promise<void> {
    const t = this.clock.now() / 1000;
    try {
      await utimes(blobFile(this.paths, digest), t, t);
    } catch {
      // Another user's blob or a read-only store: gc retention then uses its write time.
    }
  }

  /**
   * Writes a new blob: temp file ('wx') filled and hashed by `fill`, checked
   * against `want`, made 0444, fsynced, then linked into blobs/ without
   * overwriting; the temp file is removed whatever happens.
   */
  private async writeBlob(
    fill: (fh: FileHandle, hasher: DigestHasher) => Promise<void>,
    want: Expect,
  ): Promise<{ digest: Digest; size: number }> {
    const tmp = join(this.paths.tmp, `blob-${randomSuffix()}.part`);
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'wx', 0o644);
    } catch (err) {
      if (NOT_WRITABLE_ERRNOS.has(errnoCode(err) ?? '')) throw notWritable(this.paths.tmp, err);
      throw err;
    }
    let open_ = true;
    try {
      const hasher = new DigestHasher();
      await fill(fh, hasher);
      const digest = hasher.digest();
      const size = hasher.size;
      checkExpect(want, digest, size);
      await fh.chmod(0o444);
      const t = this.clock.now() / 1000;
      await fh.utimes(t, t);
      await fh.sync();
      await fh.close();
      open_ = false;
      await this.commit(tmp, digest, size);
      return { digest, size };
    } finally {
      if (open_) await fh.close().catch(() => undefined);
      await unlinkQuietly(tmp);
    }
  }

  /** Makes the fully written temp file visible as the blob; an existing good blob wins. */
  private async commit(tmp: string, digest: Digest, size: number): Promise<void> {
    const final = blobFile(this.paths, digest);
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, final);
        break;
      } catch (err) {
        const code = errnoCode(err) ?? '';
        if (code === 'EEXIST') {
          const existing = await stat(final).catch(() => undefined);
          if (existing === undefined && attempt < 3) continue; // removed meanwhile: link again
          if (existing !== undefined && existing.size === size) {
            await this.touch(digest);
            return;
          }
          if (existing !== undefined && attempt < 3) {
            // Same name, wrong size: the existing file is corrupt; verification quarantines it.
            await this.inspectBlob(digest);
            continue;
          }
          throw err;
        }
        if (NO_LINK_ERRNOS.has(code)) {
          if (await this.has(digest)) return;
          await rename(tmp, final);
          break;
        }
        throw err;
      }
    }
    fsyncDirSync(this.paths.blobs);
  }

  /** Makes index.json match the tag table (adopting the tags of a layout written by other tools). */
  private reconcileIndex(): void {
    this.meta.immediate(() => {
      let current: string | undefined;
      try {
        current = readFileSync(this.paths.index, 'utf8');
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      const rows = this.meta.listTags();
      if (rows.length === 0 && current !== undefined) this.adoptIndex(current);
      const wanted = renderIndex(this.meta.listTags());
      if (current !== wanted) replaceFileSync(this.paths, this.paths.index, wanted);
    });
  }

  /** Imports ref-named manifests of an index.json this store did not write. */
  private adoptIndex(text: string): void {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return;
    }
    const manifests = (doc as { manifests?: unknown }).manifests;
    if (!Array.isArray(manifests)) return;
    const now = this.clock.now();
    for (const m of manifests) {
      try {
        const desc = parseDescriptor(m, 'index.json');
        const name = desc.annotations?.[REF_NAME_ANNOTATION];
        if (name === undefined) continue;
        const tag = parseTagName(name);
        delete desc.annotations?.[REF_NAME_ANNOTATION];
        if (desc.annotations !== undefined && Object.keys(desc.annotations).length === 0) {
          delete desc.annotations;
        }
        this.meta.upsertTag(tag, canonicalJson(desc), now);
      } catch (err) {
        if (!isAirlockError(err)) throw err;
      }
    }
  }
}

function tagNotFound(name: string): AirlockError<StoreErrorCode> {
  return storeError(
    'TAG_NOT_FOUND',
    `tag ${name} is not in the store`,
    'List the tags with `airlock status`, or build and tag the artifact first.',
    { name },
  );
}

/** Streams a file handle through sha256 from the start. */
async function hashHandle(fh: FileHandle): Promise<{ digest: Digest; size: number }> {
  const hasher = new DigestHasher();
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    hasher.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return { digest: hasher.digest(), size: hasher.size };
}

/** Creates oci-layout if missing (without overwriting); a different version is STORE_FORMAT. */
async function ensureOciLayout(paths: StorePaths): Promise<void> {
  const want = JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION });
  let text: string | undefined;
  try {
    text = await readFile(paths.ociLayout, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  if (text === undefined) {
    const tmp = join(paths.tmp, `oci-layout-${randomSuffix()}`);
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await writeAll(fh, Buffer.from(want, 'utf8'));
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await link(tmp, paths.ociLayout);
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      fsyncDirSync(paths.root);
    } finally {
      await unlinkQuietly(tmp);
    }
    text = await readFile(paths.ociLayout, 'utf8');
  }
  let version: unknown;
  try {
    version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (version !== OCI_LAYOUT_VERSION) {
    throw storeError(
      'STORE_FORMAT',
      `${paths.ociLayout} declares layout version ${JSON.stringify(version)}, not ${OCI_LAYOUT_VERSION}`,
      'Point AIRLOCK_HOME at an empty directory or an OCI image layout 1.0.0.',
      { path: paths.ociLayout, version, supported: OCI_LAYOUT_VERSION },
    );
  }
}
