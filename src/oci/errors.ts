import { AirlockError } from '../core/index.js';

/** A manifest or index that is malformed or ambiguous (the registry client throws it too). */
export type ManifestErrorCode = 'MANIFEST_INVALID';

/** Every code the OCI model throws (plus core's INVALID_DIGEST). */
export type OciErrorCode = 'INVALID_DESCRIPTOR' | ManifestErrorCode;

/** Builds an OCI model error; `details` say what was rejected and why. */
export function ociError(
  code: OciErrorCode,
  message: string,
  hint: string,
  details: Record<string, unknown>,
): AirlockError<OciErrorCode> {
  return new AirlockError<OciErrorCode>(code, message, { hint, details });
}
