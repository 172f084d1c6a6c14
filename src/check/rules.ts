import type { Finding, Level, Replacement, Severity } from './types.js';

/** What every finding of one rule shares: its severity, reason, level cap and fix text. */
export interface RuleInfo {
  id: string;
  title: string;
  severity: Severity;
  why: string;
  caps: Level;
}

const rule = (
  id: string,
  severity: Severity,
  caps: Level,
  title: string,
  why: string,
): RuleInfo => ({
  id,
  title,
  severity,
  caps,
  why,
});

/** Every rule `check` knows, by id. Caps follow the hermeticity level table of docs/architecture.md. */
export const RULES = {
  parseError: rule(
    'parse-error',
    'error',
    1,
    'File cannot be parsed',
    'A file that cannot be parsed cannot be judged; its inputs are unknown.',
  ),
  imageNoDigest: rule(
    'image-digest',
    'error',
    2,
    'Image reference without a digest',
    'A tag is mutable: the registry can serve different bytes under the same name tomorrow, so the inputs are not hash-pinned (level 3 needs every input pinned by hash).',
  ),
  imageFloating: rule(
    'image-floating-tag',
    'error',
    1,
    'Image reference with a floating tag',
    'A missing, `latest` or major-only tag moves with every upstream release, so the build is not even pinned to an exact version (level 2).',
  ),
  dockerNetwork: rule(
    'dockerfile/run-network',
    'error',
    1,
    'RUN fetches from the network',
    'A RUN step that downloads during the build sees whatever the network serves at that moment, so no two builds are known to have the same inputs (level 1; level 3 needs builds without network).',
  ),
  dockerAddUrl: rule(
    'dockerfile/add-url-checksum',
    'error',
    2,
    'ADD <url> without --checksum',
    'The URL can serve different bytes at any time; without --checksum the download is not verified (level 3 needs hash-pinned inputs).',
  ),
  dockerCopyAll: rule(
    'dockerfile/copy-all-before-manifests',
    'warning',
    3,
    'COPY . before dependency manifests',
    'Copying the whole context before installing dependencies makes the install see undeclared files (.npmrc, local node_modules, caches); level 4 needs only declared inputs visible.',
  ),
  dockerNoSde: rule(
    'dockerfile/source-date-epoch',
    'warning',
    3,
    'No SOURCE_DATE_EPOCH',
    'Without SOURCE_DATE_EPOCH, file times and embedded dates come from the wall clock, so two builds differ (level 4 needs it set).',
  ),
  dockerAptUnversioned: rule(
    'dockerfile/apt-unversioned',
    'error',
    1,
    'OS packages without versions',
    'An unversioned package installs whatever the mirror has today (level 2 needs exact versions).',
  ),
  npmRange: rule(
    'npm/version-range',
    'error',
    1,
    'Dependency with a version range',
    'A range or tag resolves to a different version whenever a new one is published (level 2 needs exact versions).',
  ),
  npmUrlDep: rule(
    'npm/unpinned-url',
    'error',
    1,
    'Git or URL dependency without a commit or hash',
    'A branch, tag or tarball URL can change content under the same name.',
  ),
  npmFileOutside: rule(
    'npm/file-outside-repo',
    'error',
    3,
    'file: dependency outside the repository',
    'A path outside the repository is an undeclared input that differs between machines (level 4 needs only declared inputs).',
  ),
  npmEnginesNode: rule(
    'npm/engines-node',
    'error',
    4,
    'Host node does not satisfy engines.node',
    'The project declares the node versions it runs on; a build with the host node outside that range fails or, worse, builds something the project never tested.',
  ),
  npmNoLockfile: rule(
    'npm/no-lockfile',
    'error',
    1,
    'No lockfile',
    'Without a lockfile every install resolves transitive dependencies afresh, so no two installs are known to match (level 1; level 3 needs every dependency hash-pinned in a lock).',
  ),
  lockNoIntegrity: rule(
    'lock/no-integrity',
    'error',
    2,
    'Lock entry without integrity hash',
    'A lock entry without a hash pins a name and version but not the bytes (level 3).',
  ),
  lockHttp: rule(
    'lock/insecure-resolved',
    'error',
    2,
    'Lock entry resolved over http:',
    'Plain http lets anyone on the path change what is downloaded.',
  ),
  lockV1: rule(
    'lock/lockfile-v1',
    'warning',
    3,
    'package-lock.json lockfileVersion 1',
    'Version 1 lockfiles omit integrity for some entries and are rewritten by modern npm, so the lock is not stable.',
  ),
  ciActionSha: rule(
    'ci/action-not-pinned',
    'error',
    2,
    'Action not pinned to a commit SHA',
    'An action tag or branch can be moved to other code at any time; only a full commit SHA is immutable.',
  ),
  ciNpmInstall: rule(
    'ci/npm-install',
    'error',
    2,
    '`npm install` in CI',
    '`npm install` may rewrite the lockfile and resolve new versions; `npm ci` installs exactly what the lock says or fails.',
  ),
  ciAptUnversioned: rule(
    'ci/apt-unversioned',
    'error',
    1,
    'OS packages installed without versions in CI',
    'An unversioned package installs whatever the mirror has today, so two CI runs build with different tools (level 2 needs exact versions).',
  ),
  networkScript: rule(
    'script-from-network',
    'error',
    2,
    'Script run straight from the network',
    'A script piped from curl or wget runs whatever the server sends at that moment, with no checksum; level 3 needs every input pinned by hash.',
  ),
  ciCacheRestoreKeys: rule(
    'ci/cache-restore-keys',
    'warning',
    3,
    'Cache restored from a fallback key',
    '`restore-keys` restores a cache saved for different inputs when the exact key misses, so the build starts from files no hash vouches for (level 4 needs verified inputs).',
  ),
  ciNoProvenance: rule(
    'ci/no-provenance',
    'warning',
    4,
    'Shipped without provenance and signature',
    'A workflow that pushes or deploys without producing signed provenance ships bytes nobody can trace to their source and builder (level 5 needs a signed artifact with provenance).',
  ),
  ciPerEnvBuild: rule(
    'ci/per-environment-build',
    'warning',
    4,
    'Artifact rebuilt per environment',
    'Building once per environment means production runs bytes that were never tested in staging; build once and promote the same digest with per-environment config (level 5 needs one proven, signed artifact).',
  ),
  scriptClock: rule(
    'script/wall-clock',
    'warning',
    3,
    'Wall-clock time written into outputs',
    'The current time differs on every run, so outputs are never bit-for-bit equal; use SOURCE_DATE_EPOCH (level 4).',
  ),
  scriptCache: rule(
    'script/unverified-cache',
    'warning',
    3,
    'Cache reused without checking its hash',
    'A cached artifact that is reused because it exists, not because its hash matches, can be stale or tampered with (level 4 needs verified inputs).',
  ),
  airlockHostToolchain: rule(
    'airlock/host-toolchain',
    'warning',
    3,
    'Host toolchain',
    'A host toolchain is whatever happens to be installed on the machine; level 4 needs the toolchain pinned by digest.',
  ),
  airlockUnlocked: rule(
    'airlock/unlocked-inputs',
    'warning',
    3,
    'External inputs without airlock.lock',
    'Without airlock.lock the external inputs are not fetched into the store and verified (level 4).',
  ),
  airlockNetwork: rule(
    'airlock/network',
    'error',
    1,
    'Network allowed in the build',
    'A build with network access can download anything at build time (level 1; level 3 needs no network).',
  ),
  airlockEnv: rule(
    'airlock/host-env',
    'warning',
    3,
    'Environment passed through from the host',
    'Host environment values differ between machines and leak into outputs (level 4 needs a scrubbed environment).',
  ),
  noConfig: rule(
    'airlock/no-config',
    'note',
    2,
    'No airlock.yaml',
    'Without a declared sandboxed build, nothing shows that the build runs without network from declared inputs (level 3).',
  ),
  badIgnore: rule(
    'ignore-without-reason',
    'note',
    4,
    'Ignore comment without a reason',
    'A suppression must say why (`# airlock: ignore <rule> -- reason`); without one it is not applied.',
  ),
} as const satisfies Record<string, RuleInfo>;

/** Every rule, for SARIF's tool.driver.rules. */
export const ALL_RULES: readonly RuleInfo[] = Object.values(RULES);

/** Where a finding points: 1-based, end exclusive. */
export interface Span {
  line: number;
  column: number;
  endLine?: number;
  endColumn?: number;
}

/** Builds a finding from its rule with a location, message and fix; `caps` may tighten the rule's cap. */
export function finding(
  info: RuleInfo,
  file: string,
  at: Span,
  message: string,
  fix: string,
  extra: { replacement?: Replacement; caps?: Level; severity?: Severity } = {},
): Finding {
  const f: Finding = {
    ruleId: info.id,
    severity: extra.severity ?? info.severity,
    file,
    line: at.line,
    column: at.column,
    endLine: at.endLine ?? at.line,
    endColumn: at.endColumn ?? at.column + 1,
    message,
    why: info.why,
    caps: extra.caps ?? info.caps,
    fix,
  };
  if (extra.replacement) f.replacement = extra.replacement;
  return f;
}
