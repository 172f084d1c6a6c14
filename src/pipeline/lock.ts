import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ProjectConfig, TargetConfig } from '../config/index.js';
import { compareBytes } from '../core/compare.js';
import { isDigest, type Digest } from '../core/digest.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
// The lock's model only: the downloader and the registry client load when a build fetches.
import type { BlobSink, DownloadOptions } from '../lock/index.js';
import type { LockErrorCode } from '../lock/errors.js';
import {
  LOCK_FILE,
  describeDifference,
  diffLocks,
  emptyLock,
  parseLock,
  serializeLock,
  type Lock,
  type LockDifference,
} from '../lock/model.js';
import { npmEntries, parseNpmLock, type NpmLockfile } from '../lock/npm-lock.js';
import { parseNpmrc, type NpmRc } from '../lock/npmrc.js';
import { parseRegistryRef } from '../registry/reference.js';
import type { LockedInput } from '../builder/action.js';
import type { ImageResolver } from './pin.js';
import type { RegistryUseCaseOptions } from './registry-context.js';
import { ociArch } from '../oci/index.js';

/** Options for `runLock`. */
export interface LockOptions {
  /** The loaded project. */
  project: ProjectConfig;
  /** Only compare: LOCK_MISSING / LOCK_STALE listing every difference, nothing written, no network. */
  check?: boolean;
  /** Resolves image tags to digests (the one `pin` uses); unset: only references pinned by digest resolve. */
  resolver?: ImageResolver;
  /** How to download a `files:` entry the config does not pin, to hash it. */
  download?: DownloadOptions;
  /** For an image digest naming a multi-platform index: the platform built for and its manifest digest. */
  platformOf?: PlatformResolver;
  events?: EventSink;
}

/** The platform manifest an index digest leads to for this machine, or undefined when it is no index. */
export type PlatformResolver = (
  ref: string,
  digest: Digest,
) => Promise<{ platform: string; manifest: Digest } | undefined>;

/**
 * A PlatformResolver asking the image's registry for the manifest behind the
 * digest (verified by the registry client): an index gives the entry for
 * linux and this machine's architecture.
 */
export function registryPlatformResolver(opts: RegistryUseCaseOptions): PlatformResolver {
  return async (text, digest) => {
    const ref = parseRegistryRef(text);
    const { clientFor } = await import('./registry-context.js');
    const client = await clientFor(ref.registry, opts);
    const got = await client.getManifest(ref.repository, digest);
    if (got.manifest.kind !== 'index') return undefined;
    const arch = ociArch(process.arch);
    // The OCI model keeps no platform; the verified bytes hold it.
    const raw = JSON.parse(Buffer.from(got.bytes).toString('utf8')) as {
      manifests?: { digest?: unknown; platform?: { os?: unknown; architecture?: unknown } }[];
    };
    const entry = raw.manifests?.find(
      (m) => m.platform?.os === 'linux' && m.platform.architecture === arch,
    );
    const hit = got.manifest.manifests.find((m) => m.digest === entry?.digest);
    if (!hit)
      throw new AirlockError<LockErrorCode>(
        'LOCK_STALE',
        `${text} is a multi-platform index without a linux/${arch} manifest`,
        { hint: 'Reference an image built for this platform.' },
      );
    return { platform: `linux/${arch}`, manifest: hit.digest };
  };
}

/** What `lock` found and did. */
export interface LockReport {
  file: string;
  differences: LockDifference[];
  /** False with `check`, or when nothing changed. */
  written: boolean;
  counts: { npm: number; files: number; images: number };
}

/** The package-locks the targets name (relative path → parsed), each read once. */
export async function readNpmLocks(project: ProjectConfig): Promise<Map<string, NpmLockfile>> {
  const out = new Map<string, NpmLockfile>();
  let registry: string | undefined;
  for (const t of project.targets.values()) {
    if (t.npm === undefined || out.has(t.npm.lockfile)) continue;
    const path = join(project.root, ...t.npm.lockfile.split('/'));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      throw new AirlockError<LockErrorCode>(
        'NPM_LOCK_INVALID',
        `target "${t.name}": ${t.npm.lockfile} does not exist`,
        {
          hint: `Create it with \`${isPnpmLockfile(t.npm.lockfile) ? 'pnpm' : 'npm'} install --${isPnpmLockfile(t.npm.lockfile) ? 'lockfile' : 'package-lock'}-only\` next to package.json, or fix targets.${t.name}.npm.lockfile in ${project.file}.`,
          details: { target: t.name, file: t.npm.lockfile },
        },
      );
    }
    if (isPnpmLockfile(t.npm.lockfile)) {
      // The YAML reader loads only for a pnpm project.
      const { parsePnpmLock } = await import('../lock/pnpm-lock.js');
      registry ??= (await readNpmrc(project.root)).registry ?? DEFAULT_NPM_REGISTRY;
      out.set(t.npm.lockfile, parsePnpmLock(text, t.npm.lockfile, registry));
    } else out.set(t.npm.lockfile, parseNpmLock(text, t.npm.lockfile));
  }
  return out;
}

/** The registry npm and pnpm use when .npmrc names none. */
export const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org/';

/** True for a pnpm lockfile (`pnpm-lock.yaml`, possibly in a subdirectory). */
export const isPnpmLockfile = (path: string): boolean => /(^|\/)pnpm-lock\.yaml$/.test(path);

/** airlock.lock of the project, or undefined when there is none. */
export async function readLock(project: ProjectConfig): Promise<Lock | undefined> {
  let text: string;
  try {
    text = await readFile(join(project.root, LOCK_FILE), 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  return parseLock(text, join(project.root, LOCK_FILE));
}

/** The images a target references: its toolchain image and its artifact's base image. */
function imageRefsOf(t: TargetConfig): string[] {
  return [
    ...(t.toolchain.image === undefined ? [] : [t.toolchain.image]),
    ...(t.image?.base === undefined ? [] : [t.image.base]),
  ];
}

/**
 * True when the project has an external input that makes airlock.lock
 * necessary. A base image (`image.base`, always pinned by digest in
 * airlock.yaml) alone does not: it is recorded once a lock exists.
 */
export function needsLock(project: ProjectConfig): boolean {
  return (
    (project.files?.size ?? 0) > 0 ||
    [...project.targets.values()].some(
      (t) => t.npm !== undefined || t.toolchain.image !== undefined,
    )
  );
}

/**
 * The lock the project needs now: every tarball of the named package-locks,
 * every `files:` entry, every toolchain and base image, with digests carried over from
 * `recorded` where the source is unchanged. Without `online`, nothing is
 * downloaded or asked of a registry (an unresolvable entry stays out, and so
 * shows as missing).
 */
export async function wantedLock(
  project: ProjectConfig,
  recorded: Lock,
  online:
    | { resolver?: ImageResolver; download?: DownloadOptions; platformOf?: PlatformResolver }
    | undefined,
  /** The package-locks, when the caller has already read them. */
  npmLocks?: ReadonlyMap<string, NpmLockfile>,
): Promise<Lock> {
  const locks = npmLocks ?? (await readNpmLocks(project));
  const sha = new Map(recorded.npm.map((e) => [e.integrity, e.sha256]));
  const npm = npmEntries([...locks.values()]).map((e) => {
    const known = sha.get(e.integrity);
    return known === undefined ? e : { ...e, sha256: known };
  });
  const files: Lock['files'] = [];
  for (const f of project.files?.values() ?? []) {
    const prior = recorded.files.find((r) => r.name === f.name && r.url === f.url);
    let digest: Digest | undefined = isDigest(f.sha256) ? f.sha256 : prior?.sha256;
    if (digest === undefined && online !== undefined) {
      const { hashUrl } = await import('../lock/fetch.js');
      digest = await hashUrl(`file ${f.name}`, f.url, online.download ?? {});
    }
    if (digest !== undefined)
      files.push({
        name: f.name,
        url: f.url,
        sha256: digest,
        executable: f.executable,
        extract: f.extract,
      });
  }
  const images: Lock['images'] = [];
  const refs = new Set([...project.targets.values()].flatMap(imageRefsOf));
  for (const ref of [...refs].sort()) {
    let digest: Digest | undefined;
    try {
      digest = parseRegistryRef(ref).digest;
    } catch {
      digest = undefined; // the config check reports a malformed reference
    }
    const prior = recorded.images.find((i) => i.ref === ref);
    if (digest === undefined && prior !== undefined && online === undefined) digest = prior.digest;
    if (digest === undefined && online?.resolver) {
      const got = await online.resolver(ref);
      digest = typeof got === 'string' ? got : undefined; // { reason }: reported as unresolved
    }
    if (digest === undefined) continue;
    if (prior?.digest === digest) images.push({ ...prior });
    else {
      const platform = await online?.platformOf?.(ref, digest);
      images.push(platform ? { ref, digest, ...platform } : { ref, digest });
    }
  }
  return { npm, files, images };
}

/**
 * `airlock lock`: writes airlock.lock so it records exactly what the config
 * and package-locks need; with `check`, only compares and fails listing
 * every difference (nothing written, nothing downloaded).
 */
export async function runLock(opts: LockOptions): Promise<LockReport> {
  const events = opts.events ?? noEvents;
  const file = join(opts.project.root, LOCK_FILE);
  const recorded = await readLock(opts.project);
  const wanted = await wantedLock(
    opts.project,
    recorded ?? emptyLock(),
    opts.check === true
      ? undefined
      : {
          ...(opts.resolver ? { resolver: opts.resolver } : {}),
          ...(opts.download ? { download: opts.download } : {}),
          ...(opts.platformOf ? { platformOf: opts.platformOf } : {}),
        },
  );
  const differences = diffLocks(recorded ?? emptyLock(), wanted);
  const counts = {
    npm: wanted.npm.length,
    files: wanted.files.length,
    images: wanted.images.length,
  };
  if (opts.check === true) {
    assertLockCurrent(opts.project, recorded, differences);
    return { file, differences, written: false, counts };
  }
  unresolvedImages(opts.project, wanted);
  const text = serializeLock(wanted);
  const before = await readFile(file, 'utf8').catch(() => undefined);
  if (before === text) return { file, differences, written: false, counts };
  await writeLockText(file, text);
  events({
    type: 'log',
    level: 'info',
    message: `wrote ${LOCK_FILE}: ${differences.length} change(s)`,
  });
  return { file, differences, written: true, counts };
}

/** Throws LOCK_MISSING or LOCK_STALE (listing each difference) unless the lock is current. */
export function assertLockCurrent(
  project: ProjectConfig,
  recorded: Lock | undefined,
  differences: readonly LockDifference[],
): void {
  if (recorded === undefined && needsLock(project))
    throw new AirlockError<LockErrorCode>(
      'LOCK_MISSING',
      `${join(project.root, LOCK_FILE)} does not exist, and the project has external inputs to lock`,
      { hint: 'Run `airlock lock` and commit airlock.lock.' },
    );
  if (differences.length > 0)
    throw new AirlockError<LockErrorCode>(
      'LOCK_STALE',
      `${LOCK_FILE} is out of date (${differences.length} difference(s)):\n${differences.map((d) => `  ${describeDifference(d)}`).join('\n')}`,
      {
        hint: 'Run `airlock lock` to update airlock.lock, review the diff and commit it.',
        details: { differences },
      },
    );
}

function unresolvedImages(project: ProjectConfig, wanted: Lock): void {
  const missing = [...new Set([...project.targets.values()].flatMap(imageRefsOf))].filter(
    (r) => !wanted.images.some((i) => i.ref === r),
  );
  if (missing.length > 0)
    throw new AirlockError<LockErrorCode>(
      'LOCK_STALE',
      `cannot resolve ${missing.join(', ')} to a digest`,
      { hint: 'Pin the image by digest (`airlock pin`), or make its registry reachable.' },
    );
}

/** Writes airlock.lock atomically (temporary file, then rename). */
export async function writeLockText(file: string, text: string): Promise<void> {
  const tmp = `${file}.airlock-tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, text, { flag: 'wx' });
  await rename(tmp, file);
}

/** .npmrc settings: the user's (~/.npmrc), then the project's, later winning. */
export async function readNpmrc(
  root: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<NpmRc> {
  const texts: string[] = [];
  for (const path of [
    env.NPM_CONFIG_USERCONFIG ?? join(env.HOME ?? homedir(), '.npmrc'),
    join(root, '.npmrc'),
  ]) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) texts.push(text);
  }
  return parseNpmrc(texts, env);
}

/** The locked inputs a target depends on, for its action key: the tarballs of its package-lock and its `files:`. */
export function lockedInputsOf(
  lock: Lock,
  npmLocks: ReadonlyMap<string, NpmLockfile>,
  target: TargetConfig,
): LockedInput[] {
  const out: LockedInput[] = [];
  if (target.npm !== undefined) {
    const used = new Set(npmLocks.get(target.npm.lockfile)?.packages.map((p) => p.integrity));
    for (const e of lock.npm)
      if (used.has(e.integrity))
        out.push({ kind: 'npm', name: e.name, version: e.version, digest: e.integrity });
  }
  for (const { name } of target.files ?? []) {
    const f = lock.files.find((e) => e.name === name);
    if (f) out.push({ kind: 'file', name, version: f.url, digest: f.sha256 });
  }
  return out;
}

/** The store blobs (tarball and file sha256s) of the locked inputs a target uses, sorted. */
export function lockedBlobsOf(
  lock: Lock,
  npmLocks: ReadonlyMap<string, NpmLockfile>,
  target: TargetConfig,
): Digest[] {
  const out = new Set<Digest>();
  if (target.npm !== undefined) {
    const used = new Set(npmLocks.get(target.npm.lockfile)?.packages.map((p) => p.integrity));
    for (const e of lock.npm) if (used.has(e.integrity) && e.sha256) out.add(e.sha256);
  }
  for (const { name } of target.files ?? []) {
    const f = lock.files.find((e) => e.name === name);
    if (f) out.add(f.sha256);
  }
  return [...out].sort(compareBytes);
}

/** How a build treats airlock.lock. */
export interface BuildLockOptions {
  /** Fail on any difference instead of updating the lock from local files (default: when `CI` is set). */
  frozen?: boolean;
  events?: EventSink;
  /** Only read: never write airlock.lock (why, repro). */
  readOnly?: boolean;
  /** Awaited before airlock.lock is written (the build's read of the git state comes first). */
  beforeWrite?: () => Promise<unknown>;
}

/**
 * The build's view of airlock.lock: checked against the config and
 * package-locks (frozen: any difference fails; otherwise the lock is
 * brought up to date from local files, never the network), and the hook
 * that puts a target's locked inputs in its action key. Empty when the
 * project has no external inputs.
 */
export async function lockHooks(
  project: ProjectConfig,
  opts: BuildLockOptions = {},
): Promise<{
  lockedInputs?: (target: TargetConfig) => LockedInput[];
  lock?: Lock;
  npmLocks?: Map<string, NpmLockfile>;
}> {
  // Images are pinned by digest in airlock.yaml itself: only npm and files make a lock necessary.
  if (!(
    (project.files?.size ?? 0) > 0 || [...project.targets.values()].some((t) => t.npm !== undefined)
  ))
    return {};
  const events = opts.events ?? noEvents;
  const [recorded, npmLocks] = await Promise.all([readLock(project), readNpmLocks(project)]);
  const wanted = await wantedLock(project, recorded ?? emptyLock(), undefined, npmLocks);
  const differences = diffLocks(recorded ?? emptyLock(), wanted);
  let lock = recorded ?? emptyLock();
  if (opts.frozen === true || opts.readOnly === true)
    assertLockCurrent(project, recorded, differences);
  else if (recorded === undefined || differences.length > 0) {
    const missing = differences.filter((d) => d.kind !== 'npm' && d.change !== 'stale');
    if (
      missing.some(
        (d) =>
          !wanted[d.kind === 'file' ? 'files' : 'images'].some(
            (e) => ('name' in e ? e.name : e.ref) === d.name,
          ),
      )
    )
      assertLockCurrent(project, recorded, differences); // needs the network: `airlock lock`
    await opts.beforeWrite?.();
    const text = serializeLock(wanted);
    await writeLockText(join(project.root, LOCK_FILE), text);
    events({
      type: 'log',
      level: 'info',
      message: `updated ${LOCK_FILE} from the package-locks (${differences.length} change(s)); run \`airlock fetch\` for new inputs`,
    });
    lock = parseLock(text, join(project.root, LOCK_FILE)); // as the next build reads it
  }
  const memo = new Map<string, LockedInput[]>();
  const lockedInputs = (t: TargetConfig): LockedInput[] => {
    let got = memo.get(t.name);
    if (got === undefined) memo.set(t.name, (got = lockedInputsOf(lock, npmLocks, t)));
    return got;
  };
  return { lock, npmLocks, lockedInputs };
}

/** Throws INPUT_NOT_FETCHED naming `airlock fetch` unless every locked tarball and file is in the store. */
export async function assertFetched(store: BlobSink, lock: Lock): Promise<void> {
  const missing: string[] = [];
  for (const e of lock.npm)
    if (e.sha256 === undefined || !(await store.has(e.sha256)))
      missing.push(`${e.name}@${e.version}`);
  for (const f of lock.files) if (!(await store.has(f.sha256))) missing.push(`file ${f.name}`);
  if (missing.length > 0)
    throw new AirlockError<LockErrorCode>(
      'INPUT_NOT_FETCHED',
      `${missing.length} locked input(s) are not in the store: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`,
      {
        hint: 'Run `airlock fetch` (the only command that downloads), or build with `--fetch`.',
        details: { missing },
      },
    );
}
