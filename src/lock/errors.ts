/** Codes thrown by src/lock: reading airlock.lock and package-locks, resolving and fetching inputs. */
export type LockErrorCode =
  | 'LOCK_INVALID'
  | 'LOCK_MISSING'
  | 'LOCK_STALE'
  | 'NPM_LOCK_INVALID'
  | 'NPM_LOCK_INCOMPLETE'
  | 'FETCHED_HASH_MISMATCH'
  | 'FETCH_FAILED'
  | 'INPUT_NOT_FETCHED'
  /** A locked npm package has an install script the target neither allows nor skips. */
  | 'INSTALL_SCRIPT_UNDECIDED'
  /** A fetched `files:` entry marked `extract: true` is not a readable tar archive. */
  | 'FILE_UNUSABLE';
