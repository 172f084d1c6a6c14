import type { Digest } from '../core/digest.js';

/** One directory entry as the input walk sees it. */
export interface HintDirent {
  name: string;
  kind: 'dir' | 'file' | 'symlink' | 'other';
}

/** What hashing learnt about one input: its tree entry and stat signature. */
export type HintEntry =
  | { kind: 'file'; digest: Digest; size: number; executable: boolean; sig: string }
  | { kind: 'symlink'; target: string };

/**
 * What a file watcher knows has NOT changed since it was last read: an
 * optional input to the walk and to hashing (the build daemon gives one).
 * Every answer is "unchanged since you last told me" or `undefined`, and
 * `undefined` always means "look at the file system": a hint can only save
 * work, never decide a result on its own.
 */
export interface FsHint {
  /** The entries of `absDir` as last remembered, if nothing in it changed since. */
  listing(absDir: string): readonly HintDirent[] | undefined;
  /** Remembers what a readdir of `absDir` returned during this build. */
  rememberListing(absDir: string, entries: readonly HintDirent[]): void;
  /** The entry of file or symlink `abs` as last remembered, if it did not change since. */
  entry(abs: string): HintEntry | undefined;
  /** Remembers what `abs` was when it was read during this build. */
  rememberEntry(abs: string, entry: HintEntry): void;
}
