import { parse } from 'yaml';
import { compareBytes } from '../core/compare.js';
import { AirlockError } from '../core/errors.js';
import type { LockErrorCode } from './errors.js';
import { sha512Of, type NpmLockfile, type NpmPackage } from './npm-lock.js';

/*
 * pnpm-lock.yaml, the two formats pnpm writes today:
 *
 *   lockfileVersion: '9.0'            (pnpm 9 and newer)
 *   importers:
 *     packages/web:
 *       dependencies:
 *         ms: { specifier: ^2.1.0, version: 2.1.3 }
 *         b:  { specifier: 'workspace:*', version: link:../b }
 *   packages:
 *     ms@2.1.3:
 *       resolution: {integrity: sha512-…}
 *   snapshots:
 *     dep-a@1.0.0(react@18.2.0):
 *       dependencies: { ms: 2.1.3 }
 *
 *   lockfileVersion: '6.0'            (pnpm 8): no `snapshots`; the packages
 *   section is keyed `/name@version(peers)` and carries the dependencies and
 *   `requiresBuild`; a project that is not a workspace has its
 *   `dependencies` at the top level instead of under `importers`.
 *
 * A registry package's tarball URL is not in the lock: pnpm derives it from
 * the registry (`<registry>/<name>/-/<name without scope>-<version>.tgz`),
 * and so does this reader.
 */

const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

const REGENERATE =
  'Regenerate it with pnpm 8 or newer from a clean state (`pnpm install --lockfile-only`), review and commit it, then run `airlock lock`.';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `name@version` of a lock key (`/@scope/a@1.0.0(peer@2)` or `@scope/a@1.0.0`), peers and v6's slash removed. */
export function pnpmPackageId(key: string): { name: string; version: string } | undefined {
  const bare = key.replace(/^\//, '').replace(/\(.*$/, '');
  const at = bare.indexOf('@', 1);
  if (at <= 0) return undefined;
  return { name: bare.slice(0, at), version: bare.slice(at + 1) };
}

/** The tarball URL pnpm fetches a registry package from. */
export function pnpmTarballUrl(registry: string, name: string, version: string): string {
  const base = registry.endsWith('/') ? registry : `${registry}/`;
  const file = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
  return `${base}${name}/-/${file}-${version}.tgz`;
}

/** The package a dependency's lock reference names, or undefined for a workspace link or local path. */
function referenced(depName: string, ref: string): string | undefined {
  if (/^(?:link|file|workspace):/.test(ref)) return undefined;
  const bare = ref.replace(/\(.*$/, '');
  if (bare.startsWith('/')) return bare.slice(1); // v6 alias or non-registry: `/other@1.0.0`
  if (/^\d/.test(bare)) return `${depName}@${bare}`;
  if (bare.indexOf('@', 1) > 0) return bare; // v9 alias: `other@1.0.0`
  return `${depName}@${bare}`;
}

/**
 * Reads a pnpm-lock.yaml (lockfileVersion 6.x or 9.x) into the tarballs it
 * installs, in the shape of a package-lock (one package per `name@version`,
 * its dependency edges by id). A package resolved from a directory or git,
 * or without a sha512 integrity, is NPM_LOCK_INCOMPLETE naming every one.
 */
export function parsePnpmLock(
  text: string,
  file: string,
  registry: string = DEFAULT_REGISTRY,
): NpmLockfile {
  const fail = (code: LockErrorCode, message: string, details: object = {}): never => {
    throw new AirlockError<LockErrorCode>(code, `${file}: ${message}`, {
      hint: REGENERATE,
      details: { file, ...details },
    });
  };
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    return fail(
      'NPM_LOCK_INVALID',
      `not valid YAML (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
    );
  }
  if (!isRecord(raw)) return fail('NPM_LOCK_INVALID', 'not a YAML mapping');
  const lv = raw.lockfileVersion;
  const version = typeof lv === 'string' || typeof lv === 'number' ? String(lv) : '';
  const major = /^(6|9)(?:\.\d+)?$/.exec(version)?.[1];
  if (major === undefined)
    return fail(
      'NPM_LOCK_INVALID',
      `lockfileVersion ${JSON.stringify(raw.lockfileVersion)} is not supported (only 6.x, written by pnpm 8, and 9.x, written by pnpm 9 and newer)`,
    );
  const importers: string[] = isRecord(raw.importers)
    ? Object.keys(raw.importers).sort(compareBytes)
    : ['.'];
  const packagesSection = isRecord(raw.packages) ? raw.packages : {};
  // Where each package's dependencies are: v9 `snapshots` (one per peer variant), v6 `packages`.
  const depSections = major === '9' && isRecord(raw.snapshots) ? raw.snapshots : packagesSection;
  const packages = new Map<string, NpmPackage>();
  const incomplete: string[] = [];
  for (const [key, value] of Object.entries(packagesSection)) {
    if (!isRecord(value)) continue;
    const id = pnpmPackageId(key);
    const name = typeof value.name === 'string' ? value.name : id?.name;
    const v = typeof value.version === 'string' ? value.version : id?.version;
    if (name === undefined || v === undefined) {
      incomplete.push(`${key}: not a name@version key`);
      continue;
    }
    const resolution = isRecord(value.resolution) ? value.resolution : {};
    const integrity = typeof resolution.integrity === 'string' ? resolution.integrity : '';
    let resolved: string;
    if (typeof resolution.tarball === 'string') resolved = resolution.tarball;
    else if (resolution.directory !== undefined || resolution.type === 'git')
      resolved =
        resolution.directory !== undefined
          ? `directory ${JSON.stringify(resolution.directory)}`
          : `git ${JSON.stringify(resolution.repo)}`;
    else resolved = pnpmTarballUrl(registry, name, v);
    const problems = [
      ...(!/^https?:\/\//.test(resolved)
        ? [`is resolved from ${resolved}, not a registry tarball`]
        : []),
      ...(integrity === ''
        ? ['has no integrity']
        : !sha512Of(integrity)
          ? ['has no sha512 integrity']
          : []),
    ];
    if (problems.length > 0) {
      incomplete.push(`${name}@${v} ${problems.join(' and ')}`);
      continue;
    }
    const pkgId = `${name}@${v}`;
    if (packages.has(pkgId)) continue; // v6: the same package under several peer variants
    packages.set(pkgId, {
      path: pkgId,
      name,
      version: v,
      resolved,
      integrity,
      hasInstallScript: value.requiresBuild === true,
      dependencies: [],
    });
  }
  if (incomplete.length > 0)
    fail(
      'NPM_LOCK_INCOMPLETE',
      `${incomplete.length} package(s) cannot be installed offline or verified: ${incomplete.slice(0, 10).join('; ')}${incomplete.length > 10 ? '; …' : ''}`,
      { packages: incomplete },
    );
  const edges = new Map<string, Set<string>>();
  for (const [key, value] of Object.entries(depSections)) {
    const id = pnpmPackageId(key);
    if (!isRecord(value) || id === undefined) continue;
    const from = `${id.name}@${id.version}`;
    const pkg = packages.get(from);
    if (!pkg) continue;
    const out = edges.get(from) ?? new Set<string>();
    const names = new Set(pkg.dependencies);
    for (const section of ['dependencies', 'optionalDependencies']) {
      const deps = value[section];
      if (!isRecord(deps)) continue;
      for (const [depName, ref] of Object.entries(deps)) {
        names.add(depName);
        const to = typeof ref === 'string' ? referenced(depName, ref) : undefined;
        const target = to === undefined ? undefined : pnpmPackageId(to);
        if (target && packages.has(`${target.name}@${target.version}`))
          out.add(`${target.name}@${target.version}`);
      }
    }
    pkg.dependencies = [...names].sort(compareBytes);
    edges.set(from, out);
  }
  return {
    file,
    manager: 'pnpm',
    lockfileVersion: version,
    packages: [...packages.values()].sort((a, b) => compareBytes(a.path, b.path)),
    links: [],
    importers,
    edges: new Map(
      [...packages.keys()].map((k) => [k, [...(edges.get(k) ?? [])].sort(compareBytes)]),
    ),
  };
}
