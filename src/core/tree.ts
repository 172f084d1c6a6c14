import { compareBytes } from './compare.js';
import { sha256, type Digest } from './digest.js';
import { AirlockError } from './errors.js';

/**
 * One entry of a file tree. Directories are implied by the paths under them;
 * there are no timestamps, owners or mode bits other than the executable bit.
 */
export type TreeEntry =
  | { path: string; kind: 'file'; executable: boolean; digest: Digest; size: number }
  | { path: string; kind: 'symlink'; target: string };

export const TREE_FORMAT = 'airlock.tree/v1';

export type TreePathErrorCode = 'INVALID_PATH';

/** True for a relative POSIX path that stays inside its root: no leading '/', '.', '..', empty segment or NUL. */
export function isInsidePath(path: string): boolean {
  return !(
    path.length === 0 ||
    path.startsWith('/') ||
    path.includes('\0') ||
    path.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')
  );
}

/**
 * Checks that `path` is a relative POSIX path that stays inside its root:
 * no leading '/', no '.' or '..' segment, no empty segment, no NUL.
 */
export function assertRelativePath(path: string, where = 'path'): string {
  if (!isInsidePath(path)) {
    throw new AirlockError<TreePathErrorCode>(
      'INVALID_PATH',
      `${where}: ${JSON.stringify(path)} is not a relative path inside the tree`,
      { hint: 'Use a path relative to the project root without ".." or a leading "/".' },
    );
  }
  return path;
}

/** Sorts entries by the bytes of their paths; duplicate paths are an error. */
export function sortTree(entries: Iterable<TreeEntry>): TreeEntry[] {
  const sorted = [...entries];
  // Walks list paths in byte order already: sort only when one is out of place.
  let inOrder = true;
  for (let i = 1; i < sorted.length && inOrder; i++) {
    inOrder = compareBytes(sorted[i - 1]!.path, sorted[i]!.path) <= 0;
  }
  if (!inOrder) sorted.sort((a, b) => compareBytes(a.path, b.path));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.path === sorted[i - 1]!.path) {
      throw new AirlockError<TreePathErrorCode>(
        'INVALID_PATH',
        `duplicate path in tree: ${sorted[i]!.path}`,
      );
    }
  }
  return sorted;
}

/**
 * The Merkle digest of a tree: canonical JSON of its byte-sorted entries.
 * Equal trees have equal digests wherever and whenever they were read.
 */
export function treeDigest(entries: Iterable<TreeEntry>): Digest {
  const rows = sortTree(entries).map((e) =>
    e.kind === 'file'
      ? [e.path, 'file', e.executable, e.digest]
      : [e.path, 'symlink', false, e.target],
  );
  // Why not canonicalJson: for arrays of strings and booleans, with the keys
  // written in sorted order, JSON.stringify yields exactly the RFC 8785 bytes
  // (same string escaping), at a fraction of the cost on 10k-entry trees.
  return sha256(JSON.stringify({ entries: rows, format: TREE_FORMAT }));
}
