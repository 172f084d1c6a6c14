import { Readable } from 'node:stream';
import { npmLicense, type LockFact } from '../attest/index.js';
import { readTarFile } from '../archive/index.js';
import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import type { ProjectConfig, TargetConfig } from '../config/index.js';
import { npmDependencyGraph, type Lock } from '../lock/index.js';
import type { Store } from '../store/index.js';
import { readLock, readNpmLocks } from './lock.js';

/** Largest package.json read out of a tarball for its license. */
const MAX_MANIFEST = 1 << 20;

/**
 * The license a fetched npm tarball's own package.json declares (the
 * `<dir>/package.json` at the top of the archive), read from the store
 * verified; undefined when the tarball has none or declares none.
 */
export async function tarballLicense(store: Store, tarball: Digest): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.getBytes(tarball);
  } catch (err) {
    if (isAirlockError(err, 'BLOB_NOT_FOUND')) return undefined; // freed by gc since the build
    throw err;
  }
  const text = await readTarFile(
    Readable.from([bytes]),
    (p) => /^[^/]+\/package\.json$/.test(p),
    MAX_MANIFEST,
  );
  if (!text) return undefined;
  try {
    return npmLicense(JSON.parse(text.toString('utf8')));
  } catch {
    return undefined; // a package.json npm itself could not read declares nothing
  }
}

/**
 * What airlock.lock says a target's artifact is made of: every npm package
 * its package-lock installs (version, SRI, tarball URL and store address,
 * the license from the tarball's own package.json, and the packages each
 * depends on as Node resolves them) and every locked file. Empty without a
 * lock. Sorted, so the evidence built from it is the same on every run.
 */
export async function lockFactsOf(
  project: ProjectConfig,
  store: Store,
  target: TargetConfig,
  lock?: Lock,
): Promise<LockFact[]> {
  const locked = lock ?? (await readLock(project));
  if (!locked) return [];
  const out: LockFact[] = [];
  for (const f of locked.files)
    out.push({ kind: 'file', name: f.name, digest: f.sha256, url: f.url });
  if (target.npm !== undefined) {
    const npmLock = (await readNpmLocks(project)).get(target.npm.lockfile)!;
    const graph = npmDependencyGraph(npmLock);
    const byIntegrity = new Map(locked.npm.map((e) => [e.integrity, e]));
    const idOf = new Map(npmLock.packages.map((p) => [p.path, `${p.name}@${p.version}`]));
    // One component per name@version, whatever number of places the package is installed at.
    const seen = new Map<string, LockFact>();
    const packages = [...npmLock.packages].sort((a, b) => compareBytes(a.path, b.path));
    for (const p of packages) {
      const id = `${p.name}@${p.version}`;
      const deps = (graph.get(p.path) ?? []).map((d) => idOf.get(d)!);
      const prior = seen.get(id);
      if (prior) {
        prior.dependsOn = [...new Set([...(prior.dependsOn ?? []), ...deps])].sort(compareBytes);
        continue;
      }
      const entry = byIntegrity.get(p.integrity);
      const license = entry?.sha256 ? await tarballLicense(store, entry.sha256) : undefined;
      seen.set(id, {
        kind: 'npm',
        name: p.name,
        version: p.version,
        integrity: p.integrity,
        url: p.resolved,
        ...(entry?.sha256 ? { digest: entry.sha256 } : {}),
        ...(license ? { license } : {}),
        dependsOn: [...new Set(deps)].sort(compareBytes),
      });
    }
    out.push(...seen.values());
  }
  return out.sort(
    (a, b) =>
      compareBytes(a.kind, b.kind) ||
      compareBytes(a.name, b.name) ||
      compareBytes(a.version ?? '', b.version ?? ''),
  );
}
