import { AirlockError } from '../core/index.js';

/** Every code the OCI model throws (plus core's INVALID_DIGEST). */
export type OciErrorCode = 'INVALID_DESCRIPTOR' | 'MANIFEST_INVALID';

/** Builds an OCI model error; `details` say what was rejected and why. */
export function ociError(
  code: OciErrorCode,
  message: string,
  hint: string,
  details: Record<string, unknown>,
): AirlockError<OciErrorCode> {
  return new AirlockError<OciErrorCode>(code, message, { hint, details });
}
