export type { LockErrorCode } from './errors.js';
export {
  LOCK_FILE,
  LOCK_FORMAT,
  describeDifference,
  diffLocks,
  emptyLock,
  parseLock,
  serializeLock,
  sortLock,
} from './model.js';
export type { FileLockEntry, ImageLockEntry, Lock, LockDifference, NpmLockEntry } from './model.js';
export { npmDependencyGraph, npmEntries, parseNpmLock, sha512Of } from './npm-lock.js';
export type { NpmLockfile, NpmPackage } from './npm-lock.js';
export { parsePnpmLock, pnpmPackageId, pnpmTarballUrl } from './pnpm-lock.js';
export { parseNpmrc, tokenFor } from './npmrc.js';
export type { NpmRc } from './npmrc.js';
export { download, showUrl } from './download.js';
export type { DownloadOptions } from './download.js';
export { fetchLocked, hashUrl, mirrored } from './fetch.js';
export type { BlobSink, FetchOptions, FetchReport } from './fetch.js';
export {
  fitsPlatform,
  jsonFormat,
  nameFromFolder,
  normalizeBins,
  planNpmTree,
  stringifyNice,
} from './npm-tree.js';
export type { NpmPlatform, NpmTreeBin, NpmTreePackage, NpmTreePlan } from './npm-tree.js';
