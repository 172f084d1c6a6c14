import type { Digest } from '../core/index.js';

/** What the caller already knows about content being stored; a mismatch rejects the write. */
export interface Expect {
  digest?: Digest;
  size?: number;
}

/** One action-cache entry: action key → action result blob. */
export interface ActionCacheEntry {
  key: Digest;
  result: Digest;
  /** Milliseconds since the epoch, from the store's clock. */
  createdAt: number;
}

export type FsckProblemKind =
  | 'corrupt-blob'
  | 'dangling-tag'
  | 'dangling-reference'
  | 'dangling-action'
  | 'stray-file'
  | 'leftover-tmp'
  | 'index-out-of-sync'
  | 'index-damaged'
  | 'meta-damaged'
  | 'build-db-damaged'
  | 'unreadable-blob'
  | 'damaged-artifact'
  | 'damaged-root'
  | 'dead-work-dir'
  | 'store-full';

/** One thing fsck found; `cleanable` problems never hide or corrupt content. */
export interface FsckProblem {
  kind: FsckProblemKind;
  severity: 'error' | 'cleanable';
  message: string;
  digest?: Digest;
  path?: string;
  /** What holds the reference: `tag:<name>`, `blob:<digest>` or `action:<key>`. */
  from?: string;
  /** True when fsck fixed it (quarantined, removed or regenerated). */
  repaired: boolean;
}

export interface FsckReport {
  /** True when no error-severity problem was found. */
  ok: boolean;
  blobsChecked: number;
  bytesChecked: number;
  corrupt: number;
  dangling: number;
  leftoverTmp: number;
  problems: FsckProblem[];
}

export interface GcReport {
  dryRun: boolean;
  roots: number;
  reachable: number;
  /** Unreachable blobs kept because they are younger than the retention. */
  keptYoung: number;
  blobsFreed: number;
  bytesFreed: number;
  /** Digests deleted (or that would be, in a dry run), sorted. */
  freed: Digest[];
  actionsExpired: number;
  tmpFilesRemoved: number;
  /** Referrers indexes (`sha256-<hex>` tags) dropped because their subject is no longer live. */
  referrersDropped: number;
}
