import {
  closeSync,
  constants as fsc,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  statfsSync,
  utimesSync,
} from 'node:fs';
import {
  link,
  lstat,
  mkdtemp,
  open,
  readFile,
  rename,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
import {
  asStoreFsError,
  checkStoreDirs,
  isDamagedDb,
  isDiskFull,
  notWritable,
  prepareStore,
  storeFull,
} from './guard.js';
import { removeDeadOwned, runFsck, runGc, type MaintenanceContext } from './maintenance.js';
import { ownedPrefix } from './owner.js';
import { MetaDb, type TagRow } from './meta.js';
import {
  fsyncDir,
  fsyncDirSync,
  randomSuffix,
  renderIndex,
  replaceFileSync,
  writeNewFileSynced,
} from './ocifiles.js';
import type { ActionCacheEntry, Expect, FsckProblem, FsckReport, GcReport } from './types.js';

export interface StoreOpenOptions {
  /** Time for blob mtimes, action entries and gc retention; defaults to the system clock. */
  clock?: Clock;
  /** Receives warnings (quarantined blobs) and fsck/gc progress. */
  events?: EventSink;
  /**
   * What to do when meta.sqlite or index.json is damaged: `throw` STORE_DAMAGED
   * (default), `repair` (move the damaged file to quarantine/ and rebuild it
   * from what survives), or `report` (work on an in-memory copy, write nothing).
   * What was found is in `Store.damage`.
   */
  onDamage?: 'throw' | 'repair' | 'report';
}

const READ_CHUNK = 1 << 20;
/** Bytes gathered before one writev of a streamed blob. */
const WRITE_BATCH = 4 << 20;
// A component of an OCI image-layout ref.name (image-layout spec, "ref" grammar).
const REF_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const TAG_RE = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);
// Filesystems without hard links: fall back to check-then-rename (still atomic).
const NO_LINK_ERRNOS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);
// A blob is opened without following a link, and without blocking on a fifo.
const BLOB_OPEN_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
// Blobs up to this size (results, configs, manifests, records) are read with
// blocking calls: a thread-pool round trip per open/stat/read/close costs more
// than the read itself, and a no-op build reads a few of them per target.
const SMALL_BLOB = 256 * 1024;

/**
 * The bytes of the regular file at `path` when it is at most SMALL_BLOB long,
 * read with blocking calls; undefined for anything else (missing, a link, a
 * fifo, large, unreadable), which the caller then handles on its async path.
 */
function readSmallFileSync(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, BLOB_OPEN_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > SMALL_BLOB) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function damaged(path: string, what: string, err?: unknown): AirlockError<StoreErrorCode> {
  return storeError(
    'STORE_DAMAGED',
    `${path} ${what}`,
    'Run `airlock store fsck`: it moves the damaged file to quarantine/, rebuilds it from what the store still holds and says what was lost.',
    { path },
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

/** Writes `parts` back to back at `position`, whatever the kernel takes per call. */
async function writevAll(fh: FileHandle, parts: Uint8Array[], position: number): Promise<void> {
  let left = parts;
  let at = position;
  while (left.length > 0) {
    const { bytesWritten } = await fh.writev(left, at);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const part of left) {
      if (skip >= part.byteLength) skip -= part.byteLength;
      else {
        rest.push(skip > 0 ? part.subarray(skip) : part);
        skip = 0;
      }
    }
    left = rest;
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/** Copies of index.json written outside the lock and found stale before the next is written under it. */
const INDEX_WRITE_ATTEMPTS = 3;

/** True when two reads of the tag table hold the same tags with the same descriptors. */
function sameTagRows(a: readonly TagRow[], b: readonly TagRow[]): boolean {
  if (a.length !== b.length) return false;
  const byName = new Map(a.map((r) => [r.name, r.descriptor]));
  return b.every((r) => byName.get(r.name) === r.descriptor);
}

/**
 * The local content-addressable store: an OCI image layout whose blobs are
 * written atomically and verified on every read, plus a SQLite index of tags
 * and action-cache entries. Safe for several processes at once.
 */
export class Store {
  readonly root: string;
  readonly tmpDir: string;
  /** Damage met while opening (meta.sqlite, index.json), with what was done about it. */
  readonly damage: FsckProblem[] = [];
  /** Every path of this store (storePaths in layout.ts): the only place paths under the root come from. */
  readonly paths: StorePaths;
  private readonly writesIndex: boolean;
  private readonly meta: MetaDb;
  /**
   * Set when a blob was linked into blobs/ (or found there) since blobs/ was
   * last fsynced: its name may not be on disk yet. Blob contents are fsynced
   * before they get a name; the directory is fsynced once per batch, before
   * the first reference to any of them (tag, action entry, `syncWrites`).
   */
  private unsyncedNames = false;
  /**
   * The latest fsync of blobs/ under way in the thread pool (`syncWritesAsync`):
   * it covers every name linked before it started, so a caller that finds no
   * unsynced name waits for it rather than assume its names are on disk.
   */
  private syncing: Promise<void> | undefined;
  /** The copy of index.json being written (publishIndex), and the one queued after it. */
  private indexWrite: Promise<void> | undefined;
  private nextIndexWrite: Promise<void> | undefined;
  /** The store's clock (gc's retention, quarantine names). */
  readonly clock: Clock;
  private readonly events: EventSink;

  private constructor(
    paths: StorePaths,
    meta: MetaDb,
    clock: Clock,
    events: EventSink,
    writesIndex: boolean,
  ) {
    this.paths = paths;
    this.writesIndex = writesIndex;
    this.root = paths.root;
    this.tmpDir = paths.tmp;
    this.meta = meta;
    this.clock = clock;
    this.events = events;
  }

  /**
   * Opens the store at `root`, creating it in a new or empty directory;
   * throws STORE_NOT_A_STORE for any other non-empty directory, STORE_UNSAFE
   * when one of its directories is a symlink, STORE_NOT_WRITABLE / STORE_FULL
   * when it cannot be written, STORE_FORMAT for a foreign layout version and
   * (unless `onDamage` says otherwise) STORE_DAMAGED for a damaged meta.sqlite.
   */
  static async open(root: string, opts: StoreOpenOptions = {}): Promise<Store> {
    if (root.trim() === '') {
      throw storeError(
        'STORE_NOT_A_STORE',
        'the store directory is an empty string',
        'Pass a directory with --store or AIRLOCK_HOME, or leave both unset for ~/.cache/airlock.',
        { path: root },
      );
    }
    const paths = storePaths(root);
    try {
      await prepareStore(paths);
      const probe = join(paths.tmp, `probe-${randomSuffix()}`);
      await (await open(probe, 'wx')).close();
      await unlink(probe);
      await ensureOciLayout(paths);
    } catch (err) {
      // Name the very path that failed (tmp/ made immutable, say) when the error knows it.
      const at = (err as { path?: unknown }).path;
      throw asStoreFsError(
        typeof at === 'string' && at.startsWith(paths.root) ? at : paths.root,
        err,
      );
    }
    const onDamage = opts.onDamage ?? 'throw';
    const clock = opts.clock ?? systemClock;
    const events = opts.events ?? noEvents;
    const damage: FsckProblem[] = [];
    const meta = openMeta(paths, onDamage, clock, damage);
    const store = new Store(
      paths,
      meta,
      clock,
      events,
      onDamage !== 'report' && damage.every((d) => d.repaired),
    );
    store.damage.push(...damage);
    try {
      store.reconcileIndex(onDamage);
    } catch (err) {
      meta.close();
      throw asStoreFsError(paths.index, err);
    }
    for (const p of store.damage) events({ type: 'log', level: 'warn', message: p.message });
    return store;
  }

  /** The blob file of `digest`, unverified: for internals that verify on their own. */
  blobPath(digest: Digest): string {
    return blobFile(this.paths, parseDigest(digest, 'blob digest'));
  }

  /**
   * Makes the names of every blob put so far durable (one fsync of blobs/ for
   * the whole batch, as git's core.fsyncMethod=batch does): call it before
   * recording a reference to them outside the store. Tags and action entries
   * call it themselves; so does close().
   */
  syncWrites(): void {
    // With an fsync still under way, the names it covers are not on disk yet: sync here too.
    if (!this.unsyncedNames && this.syncing === undefined) return;
    this.unsyncedNames = false;
    try {
      fsyncDirSync(this.paths.blobs);
    } catch (err) {
      this.unsyncedNames = true;
      throw err;
    }
  }

  /**
   * `syncWrites` without blocking the event loop: the fsync of blobs/ runs in
   * the thread pool (other targets keep going meanwhile), and resolves once
   * every blob put so far has its name on disk. Callers that find an fsync
   * already under way and nothing linked since share it.
   */
  async syncWritesAsync(): Promise<void> {
    if (!this.unsyncedNames) {
      // Names linked before the fsync under way started: on disk once it ends.
      if (this.syncing !== undefined) await this.syncing;
      return;
    }
    this.unsyncedNames = false;
    const syncing: Promise<void> = fsyncDir(this.paths.blobs)
      .catch((err: unknown) => {
        this.unsyncedNames = true;
        throw err;
      })
      .finally(() => {
        if (this.syncing === syncing) this.syncing = undefined;
      });
    this.syncing = syncing;
    await syncing;
  }

  /**
   * Stores `data`; a mismatch with `expect` throws before anything is written.
   * `refresh: false` leaves the age of an already stored copy alone (for a
   * blob a tag already reaches, which gc keeps whatever its age).
   */
  async putBytes(
    data: Uint8Array,
    expect?: Expect,
    opts: { refresh?: boolean } = {},
  ): Promise<{ digest: Digest; size: number }> {
    const want = parseExpect(expect);
    const digest = sha256(data);
    checkExpect(want, digest, data.byteLength);
    // Already stored (the digest is known before writing) and byte-for-byte the
    // same: refresh its age for gc and skip the temp file and fsync. A stored
    // copy that differs is corrupt: quarantined, and written again below.
    const path = blobFile(this.paths, digest);
    const existing = lstatOrUndefinedSync(path);
    if (existing?.isFile() && existing.size === data.byteLength) {
      if (await sameContent(path, data)) {
        if (opts.refresh !== false) this.touch(digest);
        return { digest, size: data.byteLength };
      }
      await this.inspectBlob(digest);
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
      // Chunks are gathered into batches written with one writev, without
      // copying; one batch is written while the next is read and hashed, so
      // the source (often the network) never waits for the disk.
      let writing: Promise<void> = Promise.resolve();
      let batch: Uint8Array[] = [];
      let batched = 0;
      let position = 0;
      const flush = async (): Promise<void> => {
        await writing;
        const parts = batch;
        const at = position;
        position += batched;
        batch = [];
        batched = 0;
        writing = writevAll(fh, parts, at);
        writing.catch(() => undefined); // awaited at the next flush or at the end
      };
      for await (const chunk of src) {
        hasher.update(chunk);
        if (want.size !== undefined && hasher.size > want.size) {
          throw sizeMismatch(want.size, hasher.size, true);
        }
        batch.push(chunk);
        batched += chunk.byteLength;
        if (batched >= WRITE_BATCH || batch.length >= 512) await flush();
      }
      if (batched > 0) await flush();
      await writing;
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

  /** True when a blob file for `digest` is present (not verified; a link is no blob). */
  async has(digest: Digest): Promise<boolean> {
    await Promise.resolve();
    // One blocking lstat: cheaper than a thread-pool round trip (see SMALL_BLOB).
    return lstatSync(this.blobPath(digest), { throwIfNoEntry: false })?.isFile() === true;
  }

  /** The blob's bytes, only after they hash to `digest`; else quarantine + BLOB_CORRUPT. */
  async getBytes(digest: Digest): Promise<Buffer> {
    const d = parseDigest(digest, 'blob digest');
    const path = blobFile(this.paths, d);
    const small = readSmallFileSync(path);
    // Anything else (large, missing, odd, or not matching: to be quarantined) goes the async way.
    if (small !== undefined && sha256(small) === d) return small;
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
    this.touch(desc.digest);
    try {
      await this.syncWritesAsync();
    } catch (err) {
      throw asStoreFsError(this.paths.blobs, err);
    }
    const now = this.clock.now();
    try {
      this.meta.immediate(() => this.meta.upsertTag(tag, canonicalJson(desc), now));
      await this.publishIndex();
    } catch (err) {
      throw asStoreFsError(this.paths.index, err);
    }
  }

  /**
   * Brings index.json up to the tag table as it is now, and resolves once a
   * copy that holds every tag change committed before the call is in place
   * and its name is on disk. The text is written and fsynced in the thread
   * pool, outside the table's lock; it replaces index.json only under that
   * lock and only if the table still renders to it, so a store that changed
   * tags meanwhile (this process or another) is never overwritten with an
   * older list. Calls made while a copy is being written share the next one.
   */
  private publishIndex(): Promise<void> {
    if (this.nextIndexWrite !== undefined) return this.nextIndexWrite;
    const next: Promise<void> = (this.indexWrite ?? Promise.resolve())
      .catch(() => {})
      .then(() => {
        // From here on, a new call must wait for a later copy than this one.
        if (this.nextIndexWrite === next) this.nextIndexWrite = undefined;
        this.indexWrite = next;
        return this.writeIndexCopy();
      })
      .finally(() => {
        if (this.indexWrite === next) this.indexWrite = undefined;
      });
    this.nextIndexWrite = next;
    return next;
  }

  /** One copy of index.json from the tag table (see publishIndex); after a few lost races, written under the lock. */
  private async writeIndexCopy(): Promise<void> {
    for (let attempt = 0; attempt < INDEX_WRITE_ATTEMPTS; attempt++) {
      const rows = this.meta.listTags();
      const text = renderIndex(rows);
      const tmp = join(this.paths.tmp, `index-${randomSuffix()}.tmp`);
      try {
        await writeNewFileSynced(tmp, text);
        const placed = this.meta.immediate(() => {
          if (!sameTagRows(this.meta.listTags(), rows)) return false;
          renameSync(tmp, this.paths.index);
          return true;
        });
        if (placed) {
          await fsyncDir(dirname(this.paths.index));
          return;
        }
      } finally {
        await unlink(tmp).catch(() => {
          // Already renamed (ENOENT) or unremovable: fsck reports leftovers in tmp/.
        });
      }
    }
    this.meta.immediate(() =>
      replaceFileSync(this.paths, this.paths.index, renderIndex(this.meta.listTags())),
    );
  }

  /** Removes tag `name`; TAG_NOT_FOUND when it does not exist. */
  async deleteTag(name: string): Promise<void> {
    const tag = parseTagName(name);
    await Promise.resolve();
    try {
      this.meta.immediate(() => {
        if (!this.meta.deleteTag(tag)) throw tagNotFound(tag);
        replaceFileSync(this.paths, this.paths.index, renderIndex(this.meta.listTags()));
      });
    } catch (err) {
      throw asStoreFsError(this.paths.index, err);
    }
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
    this.touch(r);
    try {
      await this.syncWritesAsync();
    } catch (err) {
      throw asStoreFsError(this.paths.blobs, err);
    }
    try {
      this.meta.putAction(k, r, this.clock.now());
    } catch (err) {
      throw asStoreFsError(this.paths.metaDb, err);
    }
  }

  /** Forgets the cache entry of `key` (no error when there is none). */
  async deleteAction(key: Digest): Promise<void> {
    this.meta.deleteAction(parseDigest(key, 'action key'));
    return Promise.resolve();
  }

  /**
   * Creates a temp directory under tmp/ whose name records this process (pid
   * and start time), so that once it dies the directory can be removed at once.
   */
  async ownedTempDir(prefix = 'work'): Promise<string> {
    try {
      return await mkdtemp(join(this.paths.tmp, ownedPrefix(prefix)));
    } catch (err) {
      throw asStoreFsError(this.paths.tmp, err);
    }
  }

  /** Removes the owned temp directories of processes that are gone; returns their paths. */
  async removeDeadTempDirs(): Promise<string[]> {
    await checkStoreDirs(this.paths);
    return removeDeadOwned(this.paths.tmp);
  }

  /** Checks every blob, reference and temp file; see FsckReport. */
  async fsck(opts: { repair?: boolean; tmpGraceMs?: number } = {}): Promise<FsckReport> {
    await checkStoreDirs(this.paths);
    return runFsck(this.context(), opts);
  }

  /**
   * Deletes blobs unreachable from tags, young action entries and `roots`
   * (blobs the caller's own records keep, e.g. the build history); see GcReport.
   */
  async gc(opts: {
    retentionMs: number;
    dryRun?: boolean;
    roots?: readonly Digest[];
  }): Promise<GcReport> {
    if (!Number.isFinite(opts.retentionMs) || opts.retentionMs < 0) {
      throw storeError(
        'INVALID_RETENTION',
        `gc retention ${String(opts.retentionMs)} ms is not a non-negative number`,
        'Pass a retention of zero or more (days on the command line, e.g. --retention-days 14).',
        { retentionMs: opts.retentionMs },
      );
    }
    await checkStoreDirs(this.paths);
    return runGc(this.context(), opts);
  }

  /**
   * Moves a damaged database file of the store (and its -wal/-shm files) into
   * quarantine/ so it is kept for inspection, and returns its new path.
   */
  quarantineFile(path: string): string {
    if (!path.startsWith(`${this.paths.metaDir}/`)) {
      throw new Error(`quarantineFile: ${path} is not under ${this.paths.metaDir}`);
    }
    return setAsideSync(this.paths, path, this.clock);
  }

  /** Makes the blobs put durable and closes the metadata database; the Store must not be used afterwards. */
  close(): void {
    try {
      this.syncWrites();
    } finally {
      this.meta.close();
    }
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
      inspectBlob: (digest, repair) => this.inspectBlob(digest, repair),
      damage: this.damage,
      writable: this.writesIndex,
    };
  }

  /**
   * Hashes a blob file, quarantining it on mismatch; never throws BLOB_CORRUPT.
   * Anything at a blob path that is not a regular file (a symlink, a
   * directory, a fifo) is `odd`, and moved to quarantine/ unless `repair` is false.
   */
  private async inspectBlob(digest: Digest, repair = true): Promise<BlobState> {
    const path = blobFile(this.paths, digest);
    let fh: FileHandle;
    try {
      const st = await lstat(path);
      if (!st.isFile()) return await this.oddBlob(digest, path, repair);
      fh = await open(path, BLOB_OPEN_FLAGS);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { state: 'missing' };
      if (errnoCode(err) === 'ELOOP') return this.oddBlob(digest, path, repair);
      throw err;
    }
    try {
      if (!(await fh.stat()).isFile()) return await this.oddBlob(digest, path, repair);
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

  /** A blob path holding something other than a regular file, moved aside when `repair`. */
  private async oddBlob(digest: Digest, path: string, repair: boolean): Promise<BlobState> {
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined) return { state: 'missing' };
    const found = st.isSymbolicLink()
      ? 'a symlink'
      : st.isDirectory()
        ? 'a directory'
        : 'not a regular file';
    if (!repair) return { state: 'odd', found };
    const target = this.quarantineName(digest);
    // rename moves the entry itself: a link is moved, never the file it points at.
    await rename(path, target);
    fsyncDirSync(this.paths.blobs);
    this.events({
      type: 'log',
      level: 'warn',
      message: `blob ${digest} was ${found}, not a regular file; moved to ${target}`,
    });
    return { state: 'odd', found, movedTo: target };
  }

  private quarantineName(digest: Digest): string {
    return join(
      this.paths.quarantine,
      `sha256-${digestHex(digest)}.${this.clock.now()}.${randomSuffix().slice(0, 4)}`,
    );
  }

  private async openBlob(digest: Digest, path: string): Promise<FileHandle> {
    let fh: FileHandle;
    try {
      fh = await open(path, BLOB_OPEN_FLAGS);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw blobNotFound(digest, path);
      if (errnoCode(err) !== 'ELOOP') throw err;
      throw await this.oddBlobError(digest, path);
    }
    if ((await fh.stat()).isFile()) return fh;
    await fh.close();
    throw await this.oddBlobError(digest, path);
  }

  /** Quarantines a non-file at a blob path and returns the BLOB_CORRUPT to throw. */
  private async oddBlobError(digest: Digest, path: string): Promise<AirlockError<StoreErrorCode>> {
    const r = await this.oddBlob(digest, path, true);
    if (r.state !== 'odd') return blobNotFound(digest, path);
    return storeError(
      'BLOB_CORRUPT',
      `blob ${digest} is corrupt: its path holds ${r.found}, not a regular file`,
      'It was moved to quarantine/; fetch or build the content again, and run `airlock store fsck` to check the rest of the store.',
      { digest, path, found: r.found, ...(r.movedTo ? { quarantinePath: r.movedTo } : {}) },
    );
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
    const target = this.quarantineName(digest);
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

  /** Marks a blob as recently used so a concurrent gc keeps it; best effort (one blocking utimes). */
  private touch(digest: Digest): void {
    const t = this.clock.now() / 1000;
    try {
      utimesSync(blobFile(this.paths, digest), t, t);
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
      throw asStoreFsError(this.paths.tmp, err, want.size);
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
    } catch (err) {
      // The source's own errors pass through; a full disk is named as such.
      throw isDiskFull(err) ? storeFull(this.paths.tmp, err, want.size) : err;
    } finally {
      if (open_) await fh.close().catch(() => undefined);
      await unlinkQuietly(tmp);
    }
  }

  /**
   * Makes the fully written (and fsynced) temp file visible as the blob; an
   * existing good blob wins. The new name is made durable by the next
   * `syncWrites`, which every reference to the blob runs first.
   */
  private async commit(tmp: string, digest: Digest, size: number): Promise<void> {
    const final = blobFile(this.paths, digest);
    // Set before the link: a syncWrites racing with it then still runs once more after.
    this.unsyncedNames = true;
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, final);
        break;
      } catch (err) {
        const code = errnoCode(err) ?? '';
        if (code === 'EEXIST') {
          const existing = await lstat(final).catch(() => undefined);
          if (existing === undefined && attempt < 3) continue; // removed meanwhile: link again
          if (existing !== undefined && !existing.isFile() && attempt < 3) {
            await this.oddBlob(digest, final, true); // a link or directory is no blob
            continue;
          }
          if (existing !== undefined && existing.size === size) {
            this.touch(digest);
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
    this.unsyncedNames = true;
  }

  /**
   * Makes index.json match the tag table (adopting the tags of a layout
   * written by other tools, or of a meta.sqlite that was rebuilt); an
   * index.json that is not a regular file is damage, handled per `onDamage`.
   */
  private reconcileIndex(onDamage: 'throw' | 'repair' | 'report'): void {
    const index = this.paths.index;
    let current: string | undefined;
    const st = lstatOrUndefinedSync(index);
    if (st !== undefined && !st.isFile()) {
      const found = st.isSymbolicLink()
        ? 'a symlink'
        : st.isDirectory()
          ? 'a directory'
          : 'not a regular file';
      if (onDamage === 'throw') throw damaged(index, `is ${found}, not the store's index file`);
      let movedTo: string | undefined;
      if (onDamage === 'repair') {
        movedTo = join(
          this.paths.quarantine,
          `index.json.${this.clock.now()}.${randomSuffix().slice(0, 4)}`,
        );
        renameSync(index, movedTo);
      }
      this.damage.push({
        kind: 'index-damaged',
        severity: 'error',
        message: `${index} was ${found}${movedTo ? `; moved to ${movedTo} and rewritten from the tag table` : ''}`,
        path: index,
        repaired: movedTo !== undefined,
      });
    } else if (st !== undefined) {
      current = readFileSync(index, 'utf8');
    }
    if (!this.writesIndex) {
      if (this.meta.path === ':memory:' && current !== undefined) this.adoptIndex(current);
      return;
    }
    this.meta.immediate(() => {
      const rows = this.meta.listTags();
      if (rows.length === 0 && current !== undefined) this.adoptIndex(current);
      const wanted = renderIndex(this.meta.listTags());
      if (current !== wanted) replaceFileSync(this.paths, index, wanted);
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

/** True when the regular file at `path` holds exactly `data` (false when unreadable). */
async function sameContent(path: string, data: Uint8Array): Promise<boolean> {
  const want = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data.byteLength <= SMALL_BLOB) return readSmallFileSync(path)?.equals(want) === true;
  let fh: FileHandle;
  try {
    fh = await open(path, BLOB_OPEN_FLAGS);
  } catch {
    return false;
  }
  try {
    return want.equals(await fh.readFile());
  } catch {
    return false;
  } finally {
    await fh.close();
  }
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
      await writeNewFileSynced(tmp, want);
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

/** What fsck learns about one blob path. */
export type BlobState =
  | { state: 'ok'; size: number }
  | { state: 'missing' }
  | { state: 'corrupt'; actual: Digest; size: number }
  | { state: 'odd'; found: string; movedTo?: string };

function lstatOrUndefinedSync(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** True when the file system holding `path` has no block left for this user. */
function noSpaceLeft(path: string): boolean {
  try {
    return statfsSync(path).bavail === 0;
  } catch {
    return false;
  }
}

/** Moves a damaged file (and its SQLite -wal/-shm companions) into quarantine/; returns where. */
function setAsideSync(paths: StorePaths, file: string, clock: Clock): string {
  const name = file.slice(file.lastIndexOf('/') + 1);
  const target = join(paths.quarantine, `${name}.${clock.now()}.${randomSuffix().slice(0, 4)}`);
  renameSync(file, target);
  for (const suffix of ['-wal', '-shm']) {
    try {
      renameSync(`${file}${suffix}`, `${target}${suffix}`);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return target;
}

/**
 * Opens meta.sqlite. A file SQLite cannot read is, per `onDamage`: an error,
 * set aside and recreated (tags come back from index.json; action-cache
 * entries are lost, which costs only rebuilds), or replaced by an empty
 * in-memory database so that a report-only fsck can go on.
 */
function openMeta(
  paths: StorePaths,
  onDamage: 'throw' | 'repair' | 'report',
  clock: Clock,
  damage: FsckProblem[],
): MetaDb {
  try {
    return new MetaDb(paths.metaDb, { check: onDamage !== 'throw' });
  } catch (err) {
    if (isAirlockError(err)) throw err;
    const code = errnoCode(err) ?? '';
    if (/^SQLITE_(IOERR|FULL)/.test(code) && noSpaceLeft(paths.root)) {
      // SQLite needs a little space even to read (its -shm file): with none, fsck still reports.
      if (onDamage === 'throw') throw storeFull(paths.metaDb, err);
      damage.push({
        kind: 'store-full',
        severity: 'error',
        message: `the file system of ${paths.root} has no space left, so ${paths.metaDb} cannot be opened: tags are read from index.json and nothing is repaired; free space and run fsck again`,
        path: paths.root,
        repaired: false,
      });
      return new MetaDb(':memory:');
    }
    if (!isDamagedDb(err)) {
      if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY')) {
        throw notWritable(paths.metaDb, err);
      }
      throw asStoreFsError(paths.metaDb, err);
    }
    const why = `is not a readable SQLite database (${code})`;
    if (onDamage === 'throw') throw damaged(paths.metaDb, why, err);
    if (onDamage === 'report') {
      damage.push({
        kind: 'meta-damaged',
        severity: 'error',
        message: `${paths.metaDb} ${why}; tags are read from index.json for this check`,
        path: paths.metaDb,
        repaired: false,
      });
      return new MetaDb(':memory:');
    }
    const kept = setAsideSync(paths, paths.metaDb, clock);
    damage.push({
      kind: 'meta-damaged',
      severity: 'error',
      message: `${paths.metaDb} ${why}; moved to ${kept} and recreated: tags restored from index.json, every action-cache entry lost (the next builds recreate them)`,
      path: paths.metaDb,
      repaired: true,
    });
    return new MetaDb(paths.metaDb);
  }
}
