import { AirlockError } from '../core/index.js';

/** Every way packing or extracting an archive can fail. */
export type ArchiveErrorCode =
  | 'ARCHIVE_UNSAFE_PATH'
  | 'ARCHIVE_UNSAFE_LINK'
  | 'ARCHIVE_UNSUPPORTED_ENTRY'
  | 'ARCHIVE_DUPLICATE_ENTRY'
  | 'ARCHIVE_CORRUPT'
  | 'ARCHIVE_SOURCE_CHANGED'
  | 'ARCHIVE_TOO_LARGE'
  | 'ARCHIVE_TOO_MANY_ENTRIES'
  | 'ARCHIVE_PATH_TOO_DEEP'
  | 'ARCHIVE_PATH_TOO_LONG';

/** Builds a typed archive error; `details` always names the offending entry when there is one. */
export function archiveError(
  code: ArchiveErrorCode,
  message: string,
  hint: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): AirlockError<ArchiveErrorCode> {
  return new AirlockError<ArchiveErrorCode>(code, message, {
    hint,
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}
