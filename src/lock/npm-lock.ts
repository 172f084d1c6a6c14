import { compareBytes } from '../core/compare.js';
import { AirlockError } from '../core/errors.js';
import type { LockErrorCode } from './errors.js';
import type { NpmLockEntry } from './model.js';

/** One installed package of a package-lock.json (v2/v3 `packages` section). */
export interface NpmPackage {
  /** Its location in the lock: `node_modules/a/node_modules/b`. */
  path: string;
  name: string;
  version: string;
  resolved: string;
  integrity: string;
  hasInstallScript: boolean;
  /** Names it depends on (dependencies, optionalDependencies, peerDependencies), sorted. */
  dependencies: string[];
}

/** What a package-lock.json asks to install, tarballs only (links and bundled packages excluded). */
export interface NpmLockfile {
  file: string;
  packages: NpmPackage[];
  /** Workspace members: `packages/a` → the lock's `node_modules/a` links to it. */
  links: { path: string; target: string }[];
  /** The package manager that wrote it and installs it (absent: npm). */
  manager?: 'pnpm';
  /** pnpm: the lockfileVersion as written (`9.0`, `6.0`). */
  lockfileVersion?: string;
  /** pnpm: the projects of the workspace (`.`, `packages/a`), relative to the lockfile's directory. */
  importers?: string[];
  /** pnpm: each package's dependencies by package path, as the lock records them. */
  edges?: Map<string, string[]>;
}

const REGENERATE =
  'Regenerate it with npm 7 or newer from a clean state: `rm -rf node_modules package-lock.json && npm install --package-lock-only`, then review and commit the new package-lock.json and run `airlock lock`.';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The package name of a lock location: the path after its last `node_modules/`. */
function nameAt(path: string): string {
  const i = path.lastIndexOf('node_modules/');
  return path.slice(i + 'node_modules/'.length);
}

/** The strongest hash of an SRI string, and whether it is sha512. */
export function sha512Of(integrity: string): string | undefined {
  for (const part of integrity.trim().split(/\s+/)) {
    const m = /^sha512-([A-Za-z0-9+/]+={0,2})(?:\?.*)?$/.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Reads a package-lock.json (lockfileVersion 2 or 3) into the tarballs it
 * installs. An entry without `resolved`, without `integrity` or with no sha512
 * in it is NPM_LOCK_INCOMPLETE naming every such package (npm then cannot
 * install offline, and nothing could verify it).
 */
export function parseNpmLock(text: string, file: string): NpmLockfile {
  const fail = (
    code: LockErrorCode,
    message: string,
    details: Record<string, unknown> = {},
  ): never => {
    throw new AirlockError<LockErrorCode>(code, `${file}: ${message}`, {
      hint: REGENERATE,
      details: { file, ...details },
    });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(
      'NPM_LOCK_INVALID',
      `not valid JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (!isRecord(raw)) return fail('NPM_LOCK_INVALID', 'not a JSON object');
  const version = raw.lockfileVersion;
  if (version !== 2 && version !== 3)
    return fail(
      'NPM_LOCK_INVALID',
      `lockfileVersion ${JSON.stringify(version)} is not supported (only 2 and 3, written by npm 7 and newer)`,
    );
  if (!isRecord(raw.packages)) return fail('NPM_LOCK_INVALID', 'has no "packages" section');
  const packages: NpmPackage[] = [];
  const links: NpmLockfile['links'] = [];
  const incomplete: string[] = [];
  for (const [path, value] of Object.entries(raw.packages)) {
    if (path === '' || !isRecord(value)) continue;
    if (value.link === true) {
      if (typeof value.resolved === 'string') links.push({ path, target: value.resolved });
      continue;
    }
    // Workspace members (not under node_modules) are sources; bundled packages come inside their parent.
    if (!path.includes('node_modules/') || value.inBundle === true) continue;
    const name = typeof value.name === 'string' ? value.name : nameAt(path);
    const v = typeof value.version === 'string' ? value.version : '';
    const resolved = typeof value.resolved === 'string' ? value.resolved : '';
    const integrity = typeof value.integrity === 'string' ? value.integrity : '';
    const missing = [
      ...(resolved === '' ? ['resolved'] : []),
      ...(integrity === ''
        ? ['integrity']
        : integrity && !sha512Of(integrity)
          ? ['a sha512 integrity']
          : []),
    ];
    if (missing.length > 0) {
      incomplete.push(`${path} (${name}@${v || '?'}): no ${missing.join(' and no ')}`);
      continue;
    }
    if (!/^https?:\/\//.test(resolved)) {
      incomplete.push(
        `${path} (${name}@${v}): resolved "${resolved}" is not an http(s) tarball URL`,
      );
      continue;
    }
    packages.push({
      path,
      name,
      version: v,
      resolved,
      integrity,
      hasInstallScript: value.hasInstallScript === true,
      dependencies: dependencyNames(value),
    });
  }
  if (incomplete.length > 0)
    fail(
      'NPM_LOCK_INCOMPLETE',
      `${incomplete.length} package(s) cannot be installed offline or verified: ${incomplete.slice(0, 10).join('; ')}${incomplete.length > 10 ? '; …' : ''}`,
      { packages: incomplete },
    );
  return { file, packages, links };
}

/** The names an entry of the lock depends on, sorted and unique. */
function dependencyNames(value: Record<string, unknown>): string[] {
  const names = new Set<string>();
  for (const key of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    const deps = value[key];
    if (isRecord(deps)) for (const n of Object.keys(deps)) names.add(n);
  }
  return [...names].sort(compareBytes);
}

/**
 * The dependency graph of a package-lock: for each package's path, the paths
 * of the packages its dependencies resolve to, the way Node resolves them
 * (the nearest `node_modules/<name>` walking up from the package; a
 * pnpm-lock records the edges itself). A
 * dependency the lock does not install (an optional one left out, a
 * workspace link) has no edge.
 */
export function npmDependencyGraph(lockfile: NpmLockfile): Map<string, string[]> {
  if (lockfile.edges) return lockfile.edges;
  const byPath = new Set(lockfile.packages.map((p) => p.path));
  const graph = new Map<string, string[]>();
  for (const p of lockfile.packages) {
    const edges: string[] = [];
    for (const name of p.dependencies) {
      let base = p.path;
      for (;;) {
        const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
        if (byPath.has(candidate)) {
          edges.push(candidate);
          break;
        }
        if (base === '') break;
        const i = base.lastIndexOf('/node_modules/');
        base = i < 0 ? '' : base.slice(0, i);
      }
    }
    graph.set(p.path, edges);
  }
  return graph;
}

/** The airlock.lock npm entries of some package-locks: one per distinct tarball. */
export function npmEntries(locks: readonly NpmLockfile[]): NpmLockEntry[] {
  const byIntegrity = new Map<string, NpmLockEntry>();
  for (const l of locks)
    for (const p of l.packages)
      if (!byIntegrity.has(p.integrity))
        byIntegrity.set(p.integrity, {
          name: p.name,
          version: p.version,
          resolved: p.resolved,
          integrity: p.integrity,
        });
  return [...byIntegrity.values()];
}
