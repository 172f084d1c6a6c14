import { readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import {
  classifyPath,
  imageSites,
  lockedVersions,
  pinImages,
  pinnedDeps,
  pinPackageJson,
  pinPackageLockRoot,
  pinPnpmLockImporter,
  unifiedDiff,
  type PinChange,
  type SourceFile,
} from '../check/index.js';
import { isDigest, type Digest } from '../core/digest.js';
import { errnoCode, isAirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { parseRegistryRef, type RegistryClient } from '../registry/index.js';
import { checkRoot, readRepository } from './check-files.js';
import { clientFor, type RegistryUseCaseOptions } from './registry-context.js';

/** Resolves an image reference to its manifest digest, or undefined (or why) when it cannot. */
export type ImageResolver = (ref: string) => Promise<Digest | { reason: string } | undefined>;

/**
 * A resolver asking each image's registry for the manifest digest its tag
 * points to (HEAD, falling back to GET), one client per registry. Faults
 * become `undefined` with a warning: the reference is then reported unresolved.
 */
export function registryResolver(opts: RegistryUseCaseOptions): ImageResolver {
  const events = opts.events ?? noEvents;
  const clients = new Map<string, Promise<RegistryClient>>();
  /** Registries found unreachable: their other images are not tried again. */
  const unreachable = new Map<string, string>();
  return async (text) => {
    let registry: string | undefined;
    try {
      const ref = parseRegistryRef(text);
      if (ref.digest) return ref.digest;
      registry = ref.registry;
      const down = unreachable.get(registry);
      if (down !== undefined) return { reason: `registry unreachable (${down})` };
      let client = clients.get(ref.registry);
      if (!client) {
        client = clientFor(ref.registry, opts);
        clients.set(ref.registry, client);
      }
      const c = await client;
      const tag = ref.tag ?? 'latest';
      const head = await c.headManifest(ref.repository, tag);
      return head?.digest ?? (await c.getManifest(ref.repository, tag)).descriptor.digest;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (registry !== undefined && isAirlockError(err) && err.code === 'REGISTRY_UNREACHABLE') {
        unreachable.set(registry, registry);
        events({
          type: 'log',
          level: 'warn',
          message: `registry unreachable: ${registry} (${message}); its other images are not tried`,
        });
        return { reason: `registry unreachable (${registry})` };
      }
      events({
        type: 'log',
        level: 'warn',
        message: `cannot resolve ${text} through its registry: ${message}`,
      });
      return { reason: message };
    }
  };
}

/** Options for `runPin`. */
export interface PinOptions {
  root?: string;
  /** Show the diff without writing. */
  dryRun?: boolean;
  /** Local store (an OCI image layout) to resolve tags from; defaults to $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string;
  /** Resolves images the store does not know (the registry client, when wired in). */
  resolver?: ImageResolver;
  events?: EventSink;
}

/** What `pin` did (or would do, with dryRun). */
export interface PinResult {
  root: string;
  dryRun: boolean;
  files: { path: string; changes: PinChange[] }[];
  /** References nothing resolved, with why when known (`registry unreachable`). */
  unresolved: { path: string; ref: string; reason?: string }[];
  /** package.json files left alone because their lockfile could not be kept valid, with why. */
  refused: { path: string; reason: string }[];
  diff: string;
}

/**
 * A resolver over a local OCI image layout: an index.json manifest whose
 * `org.opencontainers.image.ref.name` (or `io.containerd.image.name`)
 * annotation equals the reference, or its tag, gives the digest.
 */
export async function storeResolver(store: string): Promise<ImageResolver> {
  let manifests: { digest?: unknown; annotations?: Record<string, string> }[] = [];
  try {
    const index = JSON.parse(await readFile(join(store, 'index.json'), 'utf8')) as {
      manifests?: typeof manifests;
    };
    manifests = index.manifests ?? [];
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
  }
  return (ref: string) => {
    const tag = ref.includes(':') ? ref.slice(ref.lastIndexOf(':') + 1) : undefined;
    for (const m of manifests) {
      const names = [
        m.annotations?.['io.containerd.image.name'],
        m.annotations?.['org.opencontainers.image.ref.name'],
      ];
      if (
        names.includes(ref) ||
        (tag !== undefined && names[0] === undefined && names[1] === tag)
      ) {
        if (isDigest(m.digest)) return Promise.resolve(m.digest);
      }
    }
    return Promise.resolve(undefined);
  };
}

/**
 * Rewrites mutable references in place — Dockerfile FROM, YAML `image:`,
 * airlock.yaml toolchain images and package.json ranges (to the exact
 * versions the lockfile resolved, offline) — touching only those characters.
 * Writes atomically via a temporary file and rename.
 */
export async function runPin(opts: PinOptions = {}): Promise<PinResult> {
  const events = opts.events ?? noEvents;
  const root = await checkRoot(opts.root);
  const store = opts.store ?? process.env.AIRLOCK_HOME ?? join(homedir(), '.cache', 'airlock');
  const fromStore = await storeResolver(store);
  const resolve: ImageResolver = async (ref) =>
    (await fromStore(ref)) ?? (await opts.resolver?.(ref));
  const { paths, files } = await readRepository(root);
  const pathSet = new Set(paths);
  const result: PinResult = {
    root,
    dryRun: opts.dryRun === true,
    files: [],
    unresolved: [],
    refused: [],
    diff: '',
  };
  const diffs: string[] = [];
  const byPath = new Map(files.map((f) => [f.path, f]));
  /** Rewrites `path` from `before` to `after` (atomically, unless dry-run) and records the change. */
  const write = async (
    path: string,
    before: string,
    next: { text: string; changes: PinChange[] },
  ): Promise<void> => {
    if (next.changes.length === 0) return;
    // A lockfile shared by several package.json files takes every edit in turn.
    byPath.set(path, { path, text: next.text });
    result.files.push({ path, changes: next.changes });
    diffs.push(unifiedDiff(path, before, next.text));
    if (!result.dryRun) {
      const abs = join(root, ...path.split('/'));
      const tmp = `${abs}.airlock-pin.tmp`;
      await writeFile(tmp, next.text, { flag: 'wx' });
      await rename(tmp, abs);
    }
    events({
      type: 'log',
      level: 'info',
      message: `${result.dryRun ? 'would pin' : 'pinned'} ${next.changes.length} reference(s) in ${path}`,
    });
  };
  for (const file of files) {
    const kind = classifyPath(file.path);
    if (!kind) continue;
    if (kind === 'package-json') {
      if (file.path.split('/').includes('node_modules')) continue;
      await pinPackage(file, pathSet, byPath, result, write);
      continue;
    }
    const sites = imageSites(kind, file.text);
    if (sites.length === 0) continue;
    const digests = new Map<string, Digest>();
    for (const s of sites) {
      const d = await resolve(s.ref);
      if (typeof d === 'string') digests.set(s.ref, d);
      else
        result.unresolved.push({ path: file.path, ref: s.ref, ...(d ? { reason: d.reason } : {}) });
    }
    await write(file.path, file.text, pinImages(kind, file.text, digests));
  }
  result.diff = diffs.join('');
  return result;
}

const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'];

/** The nearest lockfile at or above a package.json's directory, with the package's directory relative to it. */
function nearestLock(
  path: string,
  paths: ReadonlySet<string>,
): { lock: string; dir: string } | undefined {
  const pkgDir = posix.dirname(path);
  let dir = pkgDir;
  for (;;) {
    for (const l of LOCKFILES) {
      const p = dir === '.' ? l : `${dir}/${l}`;
      if (paths.has(p))
        return { lock: p, dir: dir === '.' ? pkgDir : posix.relative(dir, pkgDir) || '.' };
    }
    if (dir === '.' || dir === '') return undefined;
    dir = posix.dirname(dir);
  }
}

/**
 * Pins one package.json's ranges to the versions its lockfile resolved and
 * updates the lockfile's copy of those specifiers, so `npm ci` and
 * `pnpm install --frozen-lockfile` still accept the pair; refuses yarn.lock,
 * whose entries are keyed by the specifiers, with a message saying so.
 */
async function pinPackage(
  file: SourceFile,
  paths: ReadonlySet<string>,
  byPath: Map<string, SourceFile>,
  result: PinResult,
  write: (
    path: string,
    before: string,
    next: { text: string; changes: PinChange[] },
  ) => Promise<void>,
): Promise<void> {
  const found = nearestLock(file.path, paths);
  const lockText = found ? byPath.get(found.lock)?.text : undefined;
  if (!found || lockText === undefined) return;
  const importer = found.dir === '.' ? '.' : found.dir;
  let pins;
  let next;
  try {
    const locked = lockedVersions(found.lock, lockText, importer === '.' ? '' : importer);
    pins = pinnedDeps(file.text, locked);
    next = pinPackageJson(file.text, locked);
  } catch {
    return; // invalid JSON: check reports it
  }
  if (pins.length === 0) return;
  const base = posix.basename(found.lock);
  if (base === 'yarn.lock') {
    result.refused.push({
      path: file.path,
      reason: `${found.lock} keys its entries by the package.json specifiers, and pin does not rewrite yarn.lock: pinning would make \`yarn install --frozen-lockfile\` fail. Pin with yarn itself (\`yarn add --exact <name>@<version>\`).`,
    });
    return;
  }
  const lockNext =
    base === 'pnpm-lock.yaml'
      ? pinPnpmLockImporter(lockText, importer, pins)
      : pinPackageLockRoot(lockText, importer, pins);
  await write(found.lock, lockText, lockNext);
  await write(file.path, file.text, next);
}
