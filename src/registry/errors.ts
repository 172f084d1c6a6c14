import { AirlockError } from '../core/errors.js';

/** Every code the registry client throws (plus core's INVALID_DIGEST). */
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
  | 'SIZE_MISMATCH'
  | 'DIGEST_HEADER_MISMATCH'
  | 'MANIFEST_INVALID'
  | 'UPLOAD_FAILED';

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
