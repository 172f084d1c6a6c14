import type { ContentErrorCode } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { ManifestErrorCode } from '../oci/index.js';

/** Every code the registry client throws (plus core's INVALID_DIGEST); a bad manifest is oci's MANIFEST_INVALID. */
export type RegistryErrorCode =
  | 'INVALID_REFERENCE'
  | 'INSECURE_REGISTRY'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_UNAUTHORIZED'
  | 'REGISTRY_DENIED'
  | 'REGISTRY_NOT_FOUND'
  | 'REGISTRY_RATE_LIMITED'
  | 'REGISTRY_ERROR'
  | 'AUTH_CHALLENGE_INVALID'
  | 'INTEGRITY_MISMATCH'
  | 'DIGEST_HEADER_MISMATCH'
  | 'UPLOAD_FAILED'
  | ContentErrorCode
  | ManifestErrorCode;

/** Builds a registry error; `details` always carries the reference it concerns. */
export function registryError(
  code: RegistryErrorCode,
  message: string,
  hint: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): AirlockError<RegistryErrorCode> {
  return new AirlockError<RegistryErrorCode>(code, message, {
    hint,
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}
