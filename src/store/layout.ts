import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { digestHex, type Digest } from '../core/index.js';

/*
 * On-disk layout of the local store, format v1 (an OCI image layout 1.0.0
 * plus Airlock's own metadata). Example with AIRLOCK_HOME=/home/ana/.cache/airlock:
 *
 *   /home/ana/.cache/airlock/
 *     oci-layout                  {"imageLayoutVersion":"1.0.0"}
 *     index.json                  OCI image index, regenerated from meta.sqlite on every
 *                                 tag change; a tag is manifests[].annotations
 *                                 ["org.opencontainers.image.ref.name"]
 *     blobs/sha256/9f86d0…0a08    every blob, named by the hex of its sha256, mode 0444
 *     tmp/blob-1f2e…-9a.part      blob being written (flag 'wx'), linked into blobs/ when whole
 *     tmp/index-4c5d….json        index.json being written, renamed over index.json
 *     quarantine/sha256-9f86…0a08.1700000000000.3b1c
 *                                 blob that failed verification: <hex>.<ms of clock>.<random>
 *     airlock/v1/store.json       {"format":"airlock.store/v1"}: the marker that this
 *                                 directory is an Airlock store (written when it is
 *                                 created in a new or empty directory, or adopted from
 *                                 an OCI image layout)
 *     airlock/v1/meta.sqlite      SQLite (WAL): tables tags(name, descriptor, updated_at)
 *                                 and actions(key, result, created_at); user_version = 1
 *     airlock/v1/build.sqlite     SQLite (WAL), derived: the stat cache, build records,
 *                                 SOURCE_DATE_EPOCH and parsed-config caches, remote
 *                                 origins (builder/records.ts, hash/stat-cache.ts)
 *     airlock/v1/audit.sqlite     SQLite (WAL): the hash-chained audit log and the lineage
 *                                 index (audit/log.ts); never derived, never recreated
 *     airlock/v1/trees/9f86…0a08/ extracted output tree of a result, named by the hex of its
 *                                 tree digest (derived from the layer; gc removes unused ones)
 *     airlock/v1/roots/4e07…c1d2/ unpacked toolchain image, named by the hex of its manifest
 *                                 digest: root.json + rootfs/ (derived; gc removes unused ones)
 *     airlock/v1/npm/5d1a…77e0/   an offline npm install, named by the hex of its install key:
 *                                 install.json + node_modules/ (derived from the fetched
 *                                 tarballs; gc removes those no remembered build uses)
 *     airlock/v1/files/c3ab…0f12/ a `files:` entry as the sandbox sees it: placed.json +
 *                                 content/ (derived from its blob; gc removes unused ones)
 *     tmp/work-4711.8123456.4026531836-Xa9b2c/
 *                                 a build's work directory: <owner pid>.<its start time in
 *                                 clock ticks since boot, /proc/<pid>/stat field 22>.<pid
 *                                 namespace inode>-<random> (see owner.ts)
 *
 * Files under tmp/ and quarantine/ never count as stored content. Every
 * directory above is a real directory: a store whose blobs/, tmp/,
 * quarantine/ or airlock/ is a symlink is refused, never followed.
 */

export const META_SCHEMA_VERSION = 1;
export const STORE_MARKER_FORMAT = 'airlock.store/v1';

/** Every path of a store rooted at `root`, computed in one place. */
export interface StorePaths {
  root: string;
  ociLayout: string;
  index: string;
  blobs: string;
  tmp: string;
  quarantine: string;
  metaDir: string;
  metaDb: string;
  marker: string;
  /** build.sqlite: derived build bookkeeping and the stat cache. */
  buildDb: string;
  /** audit.sqlite: the hash-chained audit log (not derived: never recreated). */
  auditDb: string;
  /** Extracted output trees, one directory per tree digest (derived). */
  trees: string;
  /** Unpacked toolchain image roots, one directory per manifest digest (derived). */
  roots: string;
  /**
   * Deploy state, one file per environment plus one record per rollout (not
   * derived: it is what `rollback` and `status` know):
   *   airlock/v1/deploy/prod.json             regions' slots, the current rollout
   *   airlock/v1/deploy/rollouts/<id>.json    every rollout with its gate samples
   */
  deploy: string;
  /** Offline npm installs, one directory per install key (derived). */
  npm: string;
  /** Placed `files:` entries, one directory per blob and presentation (derived). */
  files: string;
}

/**
 * The derived caches under airlock/v1/: directories whose entries can all be
 * rebuilt from blobs (gc removes the unused ones, `--caches` all of them).
 */
export function derivedCacheDirs(paths: StorePaths): { name: string; dir: string }[] {
  return [
    { name: 'trees', dir: paths.trees },
    { name: 'roots', dir: paths.roots },
    { name: 'npm', dir: paths.npm },
    { name: 'files', dir: paths.files },
  ];
}

/** The extracted output tree directory of `tree`. */
export function treeDir(paths: StorePaths, tree: Digest): string {
  return join(paths.trees, digestHex(tree));
}

/** The unpacked toolchain image root directory of the manifest `digest`. */
export function imageRootPath(paths: StorePaths, digest: Digest): string {
  return join(paths.roots, digestHex(digest));
}

/** The paths of the v1 layout under `root` (made absolute). */
export function storePaths(root: string): StorePaths {
  const abs = resolve(root);
  return {
    root: abs,
    ociLayout: join(abs, 'oci-layout'),
    index: join(abs, 'index.json'),
    blobs: join(abs, 'blobs', 'sha256'),
    tmp: join(abs, 'tmp'),
    quarantine: join(abs, 'quarantine'),
    metaDir: join(abs, 'airlock', 'v1'),
    metaDb: join(abs, 'airlock', 'v1', 'meta.sqlite'),
    marker: join(abs, 'airlock', 'v1', 'store.json'),
    buildDb: join(abs, 'airlock', 'v1', 'build.sqlite'),
    auditDb: join(abs, 'airlock', 'v1', 'audit.sqlite'),
    trees: join(abs, 'airlock', 'v1', 'trees'),
    roots: join(abs, 'airlock', 'v1', 'roots'),
    deploy: join(abs, 'airlock', 'v1', 'deploy'),
    npm: join(abs, 'airlock', 'v1', 'npm'),
    files: join(abs, 'airlock', 'v1', 'files'),
  };
}

/**
 * The store's own directories, parents first: each must be a real directory
 * (never a symlink) before anything is written or deleted below it.
 */
export function storeDirs(paths: StorePaths): string[] {
  return [
    join(paths.root, 'blobs'),
    paths.blobs,
    paths.tmp,
    paths.quarantine,
    join(paths.root, 'airlock'),
    paths.metaDir,
  ];
}

/** The blob file of an already validated digest. */
export function blobFile(paths: StorePaths, digest: Digest): string {
  return join(paths.blobs, digestHex(digest));
}

/**
 * The store root: `$AIRLOCK_HOME` when set and non-empty, else
 * `~/.cache/airlock` (home from `$HOME`, then the OS).
 */
export function defaultStoreRoot(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const home = env['AIRLOCK_HOME'];
  if (home !== undefined && home !== '') return resolve(home);
  const userHome = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir();
  return join(userHome, '.cache', 'airlock');
}
