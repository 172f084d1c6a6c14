export type { SignErrorCode } from './errors.js';
export {
  PRIVATE_KEY_PEM,
  PUBLIC_KEY_PEM,
  decodePrivateKey,
  decodePublicKey,
  encodeKeyPair,
  generateSigningKey,
  keyIdOf,
  pemDecode,
  pemEncode,
} from './keys.js';
export type { PublicKeyInfo, SigningKey } from './keys.js';
export { pae, parseEnvelope, signEnvelope, verifyEnvelope } from './dsse.js';
export type { DsseEnvelope, DsseSignature } from './dsse.js';
export {
  CACHE_SIGNATURE_FORMAT,
  CACHE_SIGNATURE_PAYLOAD_TYPE,
  signCacheEntry,
  verifyCacheEntry,
} from './cache-entry.js';
export type { EntryVerdict } from './cache-entry.js';
export {
  BUNDLE_MEDIA_TYPE,
  localKeySigner,
  parseBundle,
  signBlobBundle,
  signDsseBundle,
  verifyBundle,
} from './bundle.js';
export type { BundleErrorCode, VerifiedBundle } from './bundle.js';
