import { Readable } from 'node:stream';
import { npmLicense, type LockFact } from '../attest/facts.js';
import { readTarFile } from '../archive/index.js';
import type { BuildRecords } from '../builder/records.js';
import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import type { ProjectConfig, TargetConfig } from '../config/index.js';
import { mapLimit } from '../registry/retry.js';
import { npmDependencyGraph, type Lock } from '../lock/index.js';
import type { Store } from '../store/index.js';
import { readLock, readNpmLocks } from './lock.js';
import { MANIFEST_MAX } from './npm-tree.js';

/** The license a package.json declares; undefined when it declares none or is not JSON. */
export function manifestLicense(manifest: Buffer | undefined): string | undefined {
  if (!manifest) return undefined;
  try {
    return npmLicense(JSON.parse(manifest.toString('utf8')));
  } catch {
    return undefined; // a package.json npm itself could not read declares nothing
  }
}

/**
 * The license a fetched npm tarball's own package.json declares (the
 * `<dir>/package.json` at the top of the archive), read from the store
 * verified: null when the tarball has none or declares none, undefined when
 * the tarball is no longer in the store.
 */
export async function tarballLicense(
  store: Store,
  tarball: Digest,
): Promise<string | null | undefined> {
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
    MANIFEST_MAX,
  );
  return manifestLicense(text) ?? null;
}

/** Where `lockFactsOf` finds and notes each tarball's license (build.sqlite). */
export type LicenseNotes = Pick<BuildRecords, 'npmLicense' | 'noteNpmLicenses'>;

/**
 * The licenses of `tarballs`: as noted in `notes` (the offline install notes
 * each tarball it unpacks), else read from the store (a few at once) and
 * noted; a tarball gone from the store has none.
 */
async function licensesOf(
  store: Store,
  tarballs: readonly Digest[],
  notes: LicenseNotes | undefined,
): Promise<Map<Digest, string | undefined>> {
  const out = new Map<Digest, string | undefined>();
  const unknown: Digest[] = [];
  for (const t of new Set(tarballs)) {
    const noted = notes?.npmLicense(t);
    if (noted === undefined) unknown.push(t);
    else out.set(t, noted ?? undefined);
  }
  const read = await mapLimit(
    unknown,
    4,
    async (t) => [t, await tarballLicense(store, t)] as const,
  );
  const found: [Digest, string | null][] = [];
  for (const [t, license] of read) {
    out.set(t, license ?? undefined);
    if (license !== undefined) found.push([t, license]);
  }
  if (found.length > 0) notes?.noteNpmLicenses(found);
  return out;
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
  notes?: LicenseNotes,
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
    const licenses = await licensesOf(
      store,
      packages.flatMap((p) => byIntegrity.get(p.integrity)?.sha256 ?? []),
      notes,
    );
    for (const p of packages) {
      const id = `${p.name}@${p.version}`;
      const deps = (graph.get(p.path) ?? []).map((d) => idOf.get(d)!);
      const prior = seen.get(id);
      if (prior) {
        prior.dependsOn = [...new Set([...(prior.dependsOn ?? []), ...deps])].sort(compareBytes);
        continue;
      }
      const entry = byIntegrity.get(p.integrity);
      const license = entry?.sha256 ? licenses.get(entry.sha256) : undefined;
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
