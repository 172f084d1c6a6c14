export { storeError } from './errors.js';
export type { StoreErrorCode } from './errors.js';
export {
  OCI_INDEX_MEDIA_TYPE,
  OCI_LAYOUT_VERSION,
  REF_NAME_ANNOTATION,
  defaultStoreRoot,
  storePaths,
} from './layout.js';
export type { StorePaths } from './layout.js';
export { descriptorDigests, digestStrings, isOciDocument } from './refs.js';
export { asStoreFsError, isDamagedDb, isDiskFull, namedFault, storeFull } from './guard.js';
export { Store, parseDescriptor, parseTagName } from './store.js';
export type { BlobState } from './store.js';
export type { StoreOpenOptions } from './store.js';
export type {
  ActionCacheEntry,
  Descriptor,
  Expect,
  FsckProblem,
  FsckProblemKind,
  FsckReport,
  GcReport,
} from './types.js';
