import { posix } from 'node:path';
import { sortByBytes } from '../core/index.js';

/** A host path bwrap binds into the sandbox: a directory, or a file (whose directory is what gets hidden). */
export interface BindSource {
  path: string;
  dir: boolean;
}

function isUnderOrEqual(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * The host directories the launcher covers with an overlay of themselves so
 * that no bind source shows its host path in the sandbox's mountinfo: the
 * directory of every source (the source itself when it is one), leaving out
 * `/`, the host's system directories (`systemDirs`, e.g. /usr: their paths
 * say nothing about this host) and the work directory (which gets its own
 * writable overlay); none inside another, sorted by bytes. Pure.
 */
export function hiddenDirs(
  sources: readonly BindSource[],
  systemDirs: readonly string[],
  workDir: string,
): string[] {
  const dirs = new Set<string>();
  for (const s of sources) {
    const dir = s.dir ? s.path : posix.dirname(s.path);
    if (dir === '/' || isUnderOrEqual(dir, workDir)) continue;
    if (systemDirs.some((d) => isUnderOrEqual(dir, d))) continue;
    dirs.add(dir);
  }
  const kept: string[] = [];
  // Sorted by bytes, an ancestor comes before everything below it (not always right before: "/a-b" sorts between "/a" and "/a/b").
  for (const dir of sortByBytes(dirs, (d) => d)) {
    if (!kept.some((k) => isUnderOrEqual(dir, k))) kept.push(dir);
  }
  return kept;
}
