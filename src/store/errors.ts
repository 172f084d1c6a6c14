import type { ContentErrorCode } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';

export type StoreErrorCode =
  | 'STORE_NOT_WRITABLE'
  | 'STORE_FORMAT'
  | 'STORE_NOT_A_STORE'
  | 'STORE_UNSAFE'
  | 'STORE_FULL'
  | 'STORE_DAMAGED'
  | 'INVALID_RETENTION'
  | 'BLOB_NOT_FOUND'
  | 'BLOB_CORRUPT'
  | 'DIGEST_MISMATCH'
  | 'TAG_NOT_FOUND'
  | 'INVALID_TAG'
  | ContentErrorCode;

/** Builds a store error; every one carries a hint and machine-readable details. */
export function storeError(
  code: StoreErrorCode,
  message: string,
  hint: string,
  details: Record<string, unknown>,
  cause?: unknown,
): AirlockError<StoreErrorCode> {
  return new AirlockError<StoreErrorCode>(code, message, {
    hint,
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}
