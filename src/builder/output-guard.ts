import { globMatcher } from '../hash/walk.js';

/**
 * Directories of version-control systems: nothing a build restores or packs
 * is ever written under one, whatever a target's output globs say (a file in
 * `.git/hooks/` runs on the host at the next commit, outside any sandbox).
 */
export const VCS_DIRS: ReadonlySet<string> = new Set([
  '.git',
  '.hg',
  '.svn',
  '.bzr',
  '_darcs',
  'CVS',
  '.jj',
  '.pijul',
  '.fslckout',
  '_FOSSIL_',
]);

/** True when a segment of the relative path `path` is a VCS directory. */
export function isVcsPath(path: string): boolean {
  return path.split('/').some((s) => VCS_DIRS.has(s));
}

/** The shape of a result entry the guard needs (archive entries and tree entries both fit). */
export interface GuardedEntry {
  path: unknown;
  kind?: unknown;
}

/**
 * Why the entries of a result may not be written into the project for a
 * target declaring `outputs`, or an empty list when they may. The whole
 * result is refused on the first doubt: every path must be relative,
 * normalised, inside the project, outside any VCS directory, matched by an
 * output glob, and never below another entry; every output glob must match
 * some entry, as a real build of this target guarantees.
 */
export function outputViolations(
  outputs: readonly string[],
  entries: readonly GuardedEntry[],
): string[] {
  const problems: string[] = [];
  const matches = globMatcher(outputs);
  const seen = new Set<string>();
  const leaves = new Set<string>();
  for (const e of entries) {
    const path = e.path;
    if (typeof path !== 'string' || path === '') {
      problems.push('an entry has no path');
      continue;
    }
    if (
      path.startsWith('/') ||
      path.includes('\\') ||
      path.includes('\0') ||
      path.split('/').some((s) => s === '' || s === '.' || s === '..')
    ) {
      problems.push(`${JSON.stringify(path)} is not a plain relative path inside the project`);
      continue;
    }
    if (isVcsPath(path)) {
      problems.push(`${path} is inside a version-control directory`);
      continue;
    }
    if (!matches(path)) {
      problems.push(`${path} is not a declared output`);
      continue;
    }
    if (seen.has(path)) problems.push(`${path} appears twice`);
    seen.add(path);
    leaves.add(path);
  }
  for (const path of leaves) {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      if (leaves.has(path.slice(0, i)))
        problems.push(`${path} lies below the entry ${path.slice(0, i)}`);
    }
  }
  if (problems.length === 0) {
    for (const pattern of outputs) {
      const m = globMatcher([pattern]);
      if (![...leaves].some((p) => m(p))) problems.push(`nothing matches output "${pattern}"`);
    }
  }
  return problems;
}
