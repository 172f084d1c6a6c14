import type { Digest } from '../core/digest.js';

/**
 * What a build knows about one artifact: the input of every evidence builder
 * (SBOM, provenance). Filled by the pipeline from the build record and the
 * store; the builders are pure and read nothing else.
 */
export interface BuildFacts {
  project: string;
  target: string;
  /** The artifact: its store tag (`<project>/<target>`) and manifest digest. */
  artifact: { name: string; digest: Digest };
  /** The action key of the build. */
  actionKey: Digest;
  /** Digest of the airlock.yaml bytes. */
  configDigest: Digest;
  /** The source repository, when the project is in git. */
  source?: { uri: string; commit?: string; ref?: string };
  /** SOURCE_DATE_EPOCH of the build, in seconds. */
  sourceDateEpoch: number;
  airlockVersion: string;
  /** Digest of the sandbox profile the steps ran under. */
  sandboxProfile: Digest;
  platform: { os: string; arch: string };
  toolchain: ToolchainFact[];
  /** Digest of the input tree and every file in it. */
  inputTree: Digest;
  inputs: { path: string; digest: Digest }[];
  /** The dependency targets and their artifacts. */
  deps: { target: string; artifact?: Digest; outputs: Digest }[];
  /** The node_modules tree the offline npm install gave the build, and where it was staged. */
  npmTree?: { path: string; digest: Digest };
  /** Entries of airlock.lock used by the target; absent until a lock exists. */
  lock?: LockFact[];
  /** Step logs (stdout/stderr blob digests). */
  logs: { step: number; stdout: Digest; stderr: Digest }[];
}

/** One toolchain component: a host binary pinned by digest, or an image pinned by digest. */
export interface ToolchainFact {
  kind: 'host' | 'image';
  /** The tool name (`node`) or the image reference without its digest. */
  name: string;
  digest: Digest;
  /** For a host binary: its real path. */
  path?: string;
  /** The Debian package that owns the host binary. */
  deb?: { name: string; version: string; arch: string };
  /** For an image: the Debian packages its root's /var/lib/dpkg/status lists as installed. */
  packages?: { name: string; version: string; arch: string }[];
}

/** One locked external input (an npm package or a file), as airlock.lock records it. */
export interface LockFact {
  kind: 'npm' | 'file';
  name: string;
  version?: string;
  /** Subresource Integrity string (`sha512-…`). */
  integrity?: string;
  digest?: Digest;
  url?: string;
  license?: string;
  /** `name@version` of the packages this one depends on. */
  dependsOn?: string[];
}

/** The hermeticity level a build achieved and why it is not higher. */
export interface Hermeticity {
  level: 1 | 2 | 3 | 4 | 5;
  reasons: string[];
}

/**
 * The level the build itself enforced: the sandbox gives no network, only
 * declared inputs, a scrubbed environment and SOURCE_DATE_EPOCH (4); a host
 * toolchain caps it at 3; reproducibility is only proven by `airlock repro`,
 * so a build alone never reaches 5.
 */
export function achievedHermeticity(facts: Pick<BuildFacts, 'toolchain'>): Hermeticity {
  const reasons: string[] = [];
  let level: Hermeticity['level'] = 4;
  const host = facts.toolchain.filter((t) => t.kind === 'host').map((t) => t.name);
  if (host.length > 0) {
    level = 3;
    reasons.push(
      `capped at 3: host toolchain (${host.join(', ')}) pinned by binary digest, not an image`,
    );
  }
  reasons.push(
    'capped at 4: bit-for-bit reproducibility is proven by `airlock repro`, not by a build',
  );
  return { level, reasons };
}

/** `name@version` → the npm purl (`pkg:npm/%40scope/name@version`). */
export function npmPurl(name: string, version: string): string {
  const [scope, pkg] = name.startsWith('@') ? name.split('/', 2) : [undefined, name];
  const enc = (s: string): string => encodeURIComponent(s);
  return `pkg:npm/${scope ? `${enc(scope)}/` : ''}${enc(pkg ?? name)}@${enc(version)}`;
}

/** A Debian package's purl. */
export function debPurl(deb: { name: string; version: string; arch: string }): string {
  return `pkg:deb/debian/${encodeURIComponent(deb.name)}@${encodeURIComponent(deb.version)}?arch=${encodeURIComponent(deb.arch)}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether `s` is shaped like an SPDX license expression (ids joined by AND / OR / WITH, parentheses). */
function isLicenseExpression(s: string): boolean {
  const tokens = s.replace(/[()]/g, ' ').split(/\s+/).filter(Boolean);
  if (tokens.length === 0 || tokens.length % 2 === 0) return false;
  return tokens.every((t, i) =>
    i % 2 === 1 ? ['AND', 'OR', 'WITH'].includes(t) : /^[A-Za-z0-9][A-Za-z0-9.+-]*$/.test(t),
  );
}

/**
 * The license a package declares in its own package.json: `license` (a
 * string or the old `{type}` form) or the old `licenses: [{type}]` list
 * (joined with OR). Undefined when it declares none, `UNLICENSED`, or
 * something that is not an SPDX expression (`SEE LICENSE IN …`).
 */
export function npmLicense(manifest: unknown): string | undefined {
  if (!isRecord(manifest)) return undefined;
  let license: unknown = manifest.license;
  if (isRecord(license)) license = license.type;
  if (typeof license !== 'string' && Array.isArray(manifest.licenses)) {
    const types = manifest.licenses
      .map((l: unknown) => (isRecord(l) ? l.type : l))
      .filter((t): t is string => typeof t === 'string' && isLicenseExpression(t.trim()));
    license = types.length > 1 ? `(${types.join(' OR ')})` : types[0];
  }
  if (typeof license !== 'string') return undefined;
  const trimmed = license.trim();
  return trimmed !== 'UNLICENSED' && isLicenseExpression(trimmed) ? trimmed : undefined;
}
