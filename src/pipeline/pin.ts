import { readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import {
  classifyPath,
  imageSites,
  lockedVersions,
  pinImages,
  pinPackageJson,
  unifiedDiff,
  type PinChange,
} from '../check/index.js';
import { isDigest, type Digest } from '../core/digest.js';
import { errnoCode } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { parseRegistryRef, type RegistryClient } from '../registry/index.js';
import { checkRoot, readRepository } from './check-files.js';
import { clientFor, type RegistryUseCaseOptions } from './registry-context.js';

/** Resolves an image reference to its manifest digest, or undefined when it cannot. */
export type ImageResolver = (ref: string) => Promise<Digest | undefined>;

/**
 * A resolver asking each image's registry for the manifest digest its tag
 * points to (HEAD, falling back to GET), one client per registry. Faults
 * become `undefined` with a warning: the reference is then reported unresolved.
 */
export function registryResolver(opts: RegistryUseCaseOptions): ImageResolver {
  const events = opts.events ?? noEvents;
  const clients = new Map<string, Promise<RegistryClient>>();
  return async (text) => {
    try {
      const ref = parseRegistryRef(text);
      if (ref.digest) return ref.digest;
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
      events({
        type: 'log',
        level: 'warn',
        message: `cannot resolve ${text} through its registry: ${err instanceof Error ? err.message : String(err)}`,
      });
      return undefined;
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
  unresolved: { path: string; ref: string }[];
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
    diff: '',
  };
  const diffs: string[] = [];
  for (const file of files) {
    const kind = classifyPath(file.path);
    if (!kind) continue;
    let next: { text: string; changes: PinChange[] } | undefined;
    if (kind === 'package-json' && !file.path.split('/').includes('node_modules')) {
      const dir = posix.dirname(file.path);
      const lock = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml']
        .map((l) => (dir === '.' ? l : `${dir}/${l}`))
        .find((l) => pathSet.has(l));
      const lockText = lock ? files.find((f) => f.path === lock)?.text : undefined;
      if (lock && lockText !== undefined) {
        try {
          next = pinPackageJson(file.text, lockedVersions(lock, lockText));
        } catch {
          next = undefined; // invalid JSON: check reports it
        }
      }
    } else {
      const sites = imageSites(kind, file.text);
      if (sites.length === 0) continue;
      const digests = new Map<string, Digest>();
      for (const s of sites) {
        const d = await resolve(s.ref);
        if (d) digests.set(s.ref, d);
        else result.unresolved.push({ path: file.path, ref: s.ref });
      }
      next = pinImages(kind, file.text, digests);
    }
    if (!next || next.changes.length === 0) continue;
    result.files.push({ path: file.path, changes: next.changes });
    diffs.push(unifiedDiff(file.path, file.text, next.text));
    if (!result.dryRun) {
      const abs = join(root, ...file.path.split('/'));
      const tmp = `${abs}.airlock-pin.tmp`;
      await writeFile(tmp, next.text, { flag: 'wx' });
      await rename(tmp, abs);
    }
    events({
      type: 'log',
      level: 'info',
      message: `${result.dryRun ? 'would pin' : 'pinned'} ${next.changes.length} reference(s) in ${file.path}`,
    });
  }
  result.diff = diffs.join('');
  return result;
}
