export { checkDescriptor, parseDescriptor } from './descriptor.js';
export type { Descriptor, DescriptorProblem } from './descriptor.js';
export { ociError } from './errors.js';
export type { ManifestErrorCode, OciErrorCode } from './errors.js';
export {
  MAX_MANIFEST_BYTES,
  childrenOf,
  descriptorDigests,
  isOciDocument,
  parseManifest,
} from './manifest.js';
export type { ImageIndex, ImageManifest, Manifest } from './manifest.js';
export {
  CREATED_ANNOTATION,
  LAYER_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  MEDIA,
  OCI_LAYOUT_VERSION,
  REF_NAME_ANNOTATION,
} from './media-types.js';
export { ociArch } from './platform.js';
export {
  artifactTypeOf,
  canHaveSubject,
  manifestDescriptor,
  referrersIndex,
  referrersTag,
  refersTo,
  withReferrer,
} from './referrers.js';
