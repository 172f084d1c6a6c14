import { link, lstat, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { errnoCode, isAirlockError, type AirlockError } from '../core/index.js';
import { storeError, type StoreErrorCode } from './errors.js';
import { STORE_MARKER_FORMAT, storeDirs, type StorePaths } from './layout.js';
import { fsyncDirSync, randomSuffix, writeNewFileSynced } from './ocifiles.js';

const NOT_WRITABLE_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST']);
const FULL_ERRNOS = new Set(['ENOSPC', 'EDQUOT']);

/** STORE_NOT_WRITABLE naming `path` and the errno. */
export function notWritable(path: string, err: unknown): AirlockError<StoreErrorCode> {
  const code = errnoCode(err) ?? String(err);
  const immutable = code === 'EPERM' ? ' (an immutable attribute, `chattr -i`, does this too)' : '';
  return storeError(
    'STORE_NOT_WRITABLE',
    `the store at ${path} is not writable (${code})`,
    `Make ${path} a writable directory (check its parents, permissions and mount options${immutable}), or set AIRLOCK_HOME to a writable directory.`,
    { path, errno: errnoCode(err) },
    err,
  );
}

/** STORE_FULL naming `path` and, when known, the bytes that were to be written. */
export function storeFull(
  path: string,
  err: unknown,
  needed?: number,
): AirlockError<StoreErrorCode> {
  const need = needed === undefined ? '' : `; ${needed} bytes were to be written`;
  return storeError(
    'STORE_FULL',
    `no space left on the device of the store at ${path} (${errnoCode(err) ?? 'ENOSPC'})${need}`,
    'Free space on that file system (`airlock store gc` deletes unreferenced blobs), or set AIRLOCK_HOME to a store on a larger disk.',
    { path, errno: errnoCode(err), ...(needed === undefined ? {} : { neededBytes: needed }) },
    err,
  );
}

/** True for the errnos that mean the disk (or the quota) is full. */
export function isDiskFull(err: unknown): boolean {
  return FULL_ERRNOS.has(errnoCode(err) ?? '');
}

// SQLite's ways of saying the file is not (any more) a usable database.
const DAMAGED_DB = /^SQLITE_(NOTADB|CORRUPT|IOERR_SHORT_READ|CANTOPEN_ISDIR)/;

/** True when SQLite reports the database file itself as unusable. */
export function isDamagedDb(err: unknown): boolean {
  return DAMAGED_DB.test(errnoCode(err) ?? '');
}

/**
 * The named error for a disk-full or damaged-database fault that reached the
 * command line without one; undefined for anything else (which is a bug).
 */
export function namedFault(err: unknown): AirlockError<StoreErrorCode> | undefined {
  if (isAirlockError(err)) return undefined;
  const p = (err as { path?: unknown } | null)?.path;
  const path = typeof p === 'string' ? p : undefined;
  if (isDiskFull(err) || errnoCode(err) === 'SQLITE_FULL') {
    return storeError(
      'STORE_FULL',
      `no space left on device${path ? ` while writing ${path}` : ''} (${errnoCode(err) ?? ''})`,
      'Free space on that file system (`airlock store gc` deletes unreferenced blobs), or set AIRLOCK_HOME to a store on a larger disk.',
      { ...(path ? { path } : {}), errno: errnoCode(err) },
      err,
    );
  }
  if (isDamagedDb(err)) {
    return storeError(
      'STORE_DAMAGED',
      `a database of the store is damaged (${errnoCode(err) ?? ''}: ${err instanceof Error ? err.message : String(err)})`,
      'Run `airlock store fsck`: it moves the damaged file to quarantine/, rebuilds it from what the store still holds and says what was lost.',
      { errno: errnoCode(err) },
      err,
    );
  }
  return undefined;
}

/**
 * A filesystem error met on a store path as the named error a user can act
 * on (STORE_FULL, STORE_NOT_WRITABLE); anything else is returned unchanged.
 */
export function asStoreFsError(path: string, err: unknown, needed?: number): unknown {
  if (isAirlockError(err)) return err;
  if (isDiskFull(err) || errnoCode(err) === 'SQLITE_FULL') return storeFull(path, err, needed);
  if (NOT_WRITABLE_ERRNOS.has(errnoCode(err) ?? '')) return notWritable(path, err);
  return err;
}

function unsafe(path: string, what: string): AirlockError<StoreErrorCode> {
  return storeError(
    'STORE_UNSAFE',
    `${path} is ${what}, not a directory of the store; refusing to use the store`,
    `Airlock never writes or deletes through a link. Remove ${path} (it is not content) or point --store/AIRLOCK_HOME at a real directory; \`airlock store fsck\` recreates what is missing.`,
    { path, found: what },
  );
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFile()) return 'a regular file';
  return 'not a directory';
}

/**
 * Refuses a store whose own directories (blobs/, blobs/sha256, tmp/,
 * quarantine/, airlock/, airlock/v1 and the caches below it) exist as
 * anything but real directories; missing ones are fine.
 */
export async function checkStoreDirs(paths: StorePaths): Promise<void> {
  const dirs = [...storeDirs(paths), join(paths.metaDir, 'roots'), join(paths.metaDir, 'trees')];
  for (const dir of dirs) {
    const st = await lstatOrUndefined(dir);
    if (st !== undefined && !st.isDirectory()) throw unsafe(dir, kindOf(st));
  }
}

/** Creates `dir` and its missing parents one level at a time (recursive mkdir spins in /proc). */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let cur = dir; ; cur = dirname(cur)) {
    const st = await lstatOrUndefined(cur);
    if (st !== undefined) {
      if (!(await stat(cur)).isDirectory()) {
        throw Object.assign(new Error(`${cur} is not a directory`), { code: 'ENOTDIR' });
      }
      break;
    }
    missing.push(cur);
    if (dirname(cur) === cur) break;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d, { mode: 0o755 });
    } catch (err) {
      // ENOENT right after the parent was found: a pseudo file system (/proc, /sys).
      if (errnoCode(err) === 'ENOENT') throw notWritable(d, err);
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
}

/** Creates `target` with `text` unless it exists: temp file, fsync, link without overwriting. */
async function createOnce(target: string, text: string): Promise<void> {
  const tmp = join(dirname(target), `.new-${randomSuffix()}`);
  try {
    await writeNewFileSynced(tmp, text);
    try {
      await link(tmp, target);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    fsyncDirSync(dirname(target));
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Makes `paths.root` an Airlock store, or checks that it is one: a new or
 * empty directory becomes a store, an Airlock store (its marker) or an OCI
 * image layout (its oci-layout file) is used; any other non-empty directory
 * is refused with STORE_NOT_A_STORE, and a store directory that is a
 * symlink with STORE_UNSAFE. Nothing is created before those checks pass.
 */
export async function prepareStore(paths: StorePaths): Promise<void> {
  const root = paths.root;
  const rootSt = await lstatOrUndefined(root);
  if (rootSt === undefined) await makeDirs(root);
  else {
    // The root itself may be a link (a cache directory moved to another disk).
    const real = rootSt.isSymbolicLink() ? await stat(root) : rootSt;
    if (!real.isDirectory()) {
      throw Object.assign(new Error(`${root} is not a directory`), { code: 'ENOTDIR' });
    }
  }
  await checkStoreDirs(paths);
  const marked = (await lstatOrUndefined(paths.marker))?.isFile() === true;
  if (!marked) {
    const layout = await lstatOrUndefined(join(root, 'oci-layout'));
    const entries = await readdir(root);
    // A store another process is creating right now: airlock/ comes first, then the marker.
    const beingCreated = entries.includes('airlock') && entries.every((e) => STORE_NAMES.has(e));
    if (layout === undefined && entries.length > 0 && !beingCreated) {
      throw storeError(
        'STORE_NOT_A_STORE',
        `${root} is not an Airlock store: it holds ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} but neither airlock/v1/store.json nor oci-layout`,
        'Point --store/AIRLOCK_HOME at a new or empty directory (Airlock creates the store there), at an existing Airlock store, or at an OCI image layout.',
        { path: root, entries: entries.slice(0, 10) },
      );
    }
  }
  const [blobsParent, blobs, tmp, quarantine, airlock, metaDir] = storeDirs(paths);
  for (const dir of [airlock!, metaDir!]) await mkdirOnce(dir);
  if (!marked) {
    await createOnce(paths.marker, `${JSON.stringify({ format: STORE_MARKER_FORMAT })}\n`);
  }
  for (const dir of [blobsParent!, blobs!, tmp!, quarantine!]) await mkdirOnce(dir);
  // Raced with another process creating the same directories: judge again.
  await checkStoreDirs(paths);
}

// What a store's root holds while it is being created.
const STORE_NAMES = new Set(['airlock', 'blobs', 'tmp', 'quarantine', 'oci-layout', 'index.json']);

async function mkdirOnce(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o755 });
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
}
