export { storeError } from './errors.js';
export type { StoreErrorCode } from './errors.js';
export {
  defaultStoreRoot,
  derivedCacheDirs,
  imageRootPath,
  storePaths,
  treeDir,
} from './layout.js';
export type { StorePaths } from './layout.js';
export { digestStrings } from './refs.js';
export { asStoreFsError, isDamagedDb, isDiskFull, namedFault, storeFull } from './guard.js';
export { Store, parseTagName } from './store.js';
export type { BlobState } from './store.js';
export type { StoreOpenOptions } from './store.js';
export type {
  ActionCacheEntry,
  Expect,
  FsckProblem,
  FsckProblemKind,
  FsckReport,
  GcReport,
} from './types.js';
