export {
  basicAuth,
  loadCredentials,
  parseAuthConfig,
  parseChallenge,
  staticCredentials,
} from './auth.js';
export type { Challenge, Credential, CredentialStore } from './auth.js';
export { RegistryClient } from './client.js';
export type {
  BlobSource,
  FetchedManifest,
  RegistryClientOptions,
  TransferStats,
} from './client.js';
export { registryError } from './errors.js';
export type { RegistryErrorCode } from './errors.js';
export { formatRegistryRef, isTag, parseLayoutRef, parseRegistryRef } from './reference.js';
export type { LayoutRef, RegistryRef } from './reference.js';
export { backoffMs, isTransientNetworkError, mapLimit, retryAfterMs } from './retry.js';
export {
  attachLocal,
  localReferrers,
  pullArtifact,
  pushArtifact,
  resolveLocal,
} from './transfer.js';
export type { ContentStore, TransferOptions, TransferResult } from './transfer.js';
export {
  IMAGE_ROOT_FORMAT,
  ensureImage,
  ensureImageRoot,
  imageRootDir,
  readImageRoot,
  removeRoot,
} from './image-root.js';
export type {
  ImageRoot,
  ImageRootErrorCode,
  ImageRootOptions,
  ImageRootRecord,
  ImageRootStore,
} from './image-root.js';
