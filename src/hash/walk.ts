import { readdirSync, realpathSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { compareBytes } from '../core/compare.js';
import { AirlockError } from '../core/errors.js';
import type { FsHint, HintDirent } from './hint.js';

export type WalkErrorCode = 'PATH_ESCAPE';

function realpathOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** A file or symlink found under the project root, by relative POSIX path. */
export interface WalkedEntry {
  path: string;
  kind: 'file' | 'symlink';
}

/** Directory names never walked: version control and Airlock's own state. */
const ALWAYS_SKIPPED = new Set(['.git', '.airlock']);

interface Root {
  base: string;
  /** How many path segments below `base` a match can be; Infinity for `**`. */
  depth: number;
}

/** Where a glob can match: its literal base directory and how deep below it. */
function globRoot(pattern: string): Root {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) {
    const slash = pattern.lastIndexOf('/');
    return { base: slash < 0 ? '' : pattern.slice(0, slash), depth: 1 };
  }
  const depth = scan.glob.includes('**') ? Infinity : scan.glob.split('/').length;
  return { base: scan.base, depth };
}

/** The literal directory a glob starts from ("" for the root): no match lies outside it. */
export function globBase(pattern: string): string {
  return globRoot(pattern).base;
}

/** Compiles globs into one matcher; options fixed so `*` matches dotfiles too. */
export function globMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  const key = patterns.join('\0');
  let m = matchers.get(key);
  if (!m) {
    // Each glob is compiled once per process, however many lists it is part
    // of (every target's list of the other targets' outputs shares them).
    const each = patterns.map(compiled);
    m = each.length === 1 ? each[0]! : (path: string) => each.some((one) => one(path));
    matchers.set(key, m);
  }
  return m;
}

/** One glob's matcher (picomatch, `dot: true`), compiled once. */
function compiled(pattern: string): (path: string) => boolean {
  let m = single.get(pattern);
  if (!m) {
    m = picomatch(pattern, { dot: true });
    single.set(pattern, m);
  }
  return m;
}

/** Compiled matchers by pattern list: a build compiles each glob once, not once per use. */
const matchers = new Map<string, (path: string) => boolean>();
const single = new Map<string, (path: string) => boolean>();

/**
 * Every file and symlink under `root` that may match `patterns`, found by
 * walking only the directories those patterns can reach. Paths are relative,
 * POSIX, sorted by bytes. `all` also lists the non-matching files seen, so a
 * caller can tell which directories are entirely made of matches; `dirs`
 * are the directories walked, `pruned` those seen but not entered, and
 * `special` the sockets, FIFOs and devices seen (never matched).
 */
function walkGlobsSync(
  root: string,
  patterns: readonly string[],
  exclude: readonly string[] = [],
  hint?: FsHint,
): WalkResult {
  const isMatch = globMatcher(patterns);
  const isExcluded = globMatcher(exclude);
  const roots = mergeRoots(patterns.map(globRoot));
  const all: WalkedEntry[] = [];
  const dirs: string[] = [];
  const pruned: string[] = [];
  const special: string[] = [];
  const seen = new Set<string>();

  // Synchronous reads: directory listings come from the page cache, and one
  // readdir call per directory is far cheaper than an async iterator.
  const visit = (rel: string, depthLeft: number): void => {
    if (seen.has(rel)) return;
    const abs = rel === '' ? root : join(root, rel);
    let list = hint?.listing(abs);
    if (list === undefined) {
      let read: Dirent[];
      try {
        read = readdirSync(abs, { withFileTypes: true });
      } catch {
        return; // a base that does not exist matches nothing
      }
      list = read.map(direntOf);
      hint?.rememberListing(abs, list);
    }
    seen.add(rel);
    dirs.push(rel);
    for (const d of list) {
      const path = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.kind === 'dir') {
        if (!ALWAYS_SKIPPED.has(d.name) && depthLeft > 1) visit(path, depthLeft - 1);
        else pruned.push(path);
      } else if (d.kind === 'file') {
        all.push({ path, kind: 'file' });
      } else if (d.kind === 'symlink') {
        all.push({ path, kind: 'symlink' });
      } else {
        special.push(path);
      }
    }
  };

  for (const r of roots) {
    // A base reached through a symlinked directory must stay inside the root;
    // below it nothing is followed (symlinks are listed, never entered).
    if (r.base !== '') assertInsideRoot(root, r.base);
    visit(r.base, r.depth);
  }
  all.sort((a, b) => compareBytes(a.path, b.path));
  const unique = all.filter((e, i) => i === 0 || all[i - 1]!.path !== e.path);
  const matched = unique.filter((e) => isMatch(e.path) && !isExcluded(e.path));
  dirs.sort(compareBytes);
  pruned.sort(compareBytes);
  special.sort(compareBytes);
  return { matched, all: unique, dirs, pruned, special };
}

/**
 * Throws PATH_ESCAPE when `rel` (or, if it does not exist yet, its deepest
 * existing ancestor) resolves through a symlink to somewhere outside `root`:
 * call it before reading or creating anything at `rel`.
 */
export function assertInsideRoot(root: string, rel: string): void {
  const realRoot = realpathOrUndefined(root);
  if (realRoot === undefined) return;
  let probe = rel;
  let real = realpathOrUndefined(join(root, probe));
  while (real === undefined && probe.includes('/')) {
    probe = probe.slice(0, probe.lastIndexOf('/'));
    real = realpathOrUndefined(join(root, probe));
  }
  if (real === undefined || real === realRoot || real.startsWith(`${realRoot}/`)) return;
  throw new AirlockError<WalkErrorCode>(
    'PATH_ESCAPE',
    `${probe} in ${root} leads out of it (to ${real}) through a symlink`,
    {
      hint: `Replace the symlink at or above ${probe} with a real directory inside the project, or change the glob.`,
      details: { root, path: probe, resolved: real },
    },
  );
}

export interface WalkResult {
  matched: WalkedEntry[];
  all: WalkedEntry[];
  dirs: string[];
  pruned: string[];
  /** Sockets, FIFOs and devices seen: never inputs, and a directory holding one is never bound whole. */
  special: string[];
}

/**
 * The promise form of the walk (a thrown error becomes a rejection). With a
 * `hint`, directories it knows unchanged are not read again.
 */
export function walkGlobs(
  root: string,
  patterns: readonly string[],
  exclude: readonly string[] = [],
  hint?: FsHint,
): Promise<WalkResult> {
  return new Promise((resolve) => resolve(walkGlobsSync(root, patterns, exclude, hint)));
}

/** A Dirent as the walk's own kind of entry. */
function direntOf(d: Dirent): HintDirent {
  const kind = d.isDirectory()
    ? 'dir'
    : d.isFile()
      ? 'file'
      : d.isSymbolicLink()
        ? 'symlink'
        : 'other';
  return { name: d.name, kind };
}

/** Drops roots contained in another root with at least its depth. */
function mergeRoots(roots: Root[]): Root[] {
  const out: Root[] = [];
  const sorted = [...roots].sort((a, b) => a.base.length - b.base.length || b.depth - a.depth);
  for (const r of sorted) {
    const covered = out.some((o) => {
      if (o.base === r.base) return o.depth >= r.depth;
      if (o.base !== '' && !r.base.startsWith(`${o.base}/`)) return false;
      const extra =
        o.base === ''
          ? r.base.split('/').length
          : r.base.slice(o.base.length + 1).split('/').length;
      return o.depth === Infinity || o.depth >= extra + r.depth;
    });
    if (!covered) out.push(r);
  }
  return out;
}
