import type { ImageBases, ImageRoots, RemoteCache } from '../builder/executor.js';
import { readFile, realpath } from 'node:fs/promises';
import type { ProjectConfig, RemoteCacheConfig } from '../config/model.js';
import type { Digest } from '../core/digest.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import type * as RegistryModule from '../registry/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { EntrySigner, EntryTrust, RemoteActionCache } from '../builder/remote-cache.js';
import type { PublicKeyInfo } from '../sign/index.js';
import type { Store } from '../store/index.js';
import type { StatCache } from '../hash/stat-cache.js';
import type { RegistryUseCaseOptions } from './registry-context.js';
import { rootTree, unpackLimits } from './image-roots.js';

/**
 * The registry client is loaded only when a build really reaches a registry
 * (a toolchain image or a remote cache): a local build never pays for it.
 */
const registry = (): Promise<typeof RegistryModule> => import('../registry/index.js');

/** What `airlock build` takes to reach registries: the remote cache and toolchain images. */
export interface RemoteBuildOptions {
  /** `registry/repo` of the remote cache; wins over `cache.remote` in airlock.yaml. */
  remoteCache?: string | undefined;
  /** `host:port` registries reached over plain http (plus AIRLOCK_INSECURE_REGISTRIES). */
  insecure?: readonly string[] | undefined;
  /** Leave the remote cache out (commands that only need toolchain images, such as `why`). */
  noRemoteCache?: boolean | undefined;
  /** Credentials environment, retry count and wait (tests shorten them). */
  registry?: Pick<RegistryUseCaseOptions, 'env' | 'retries' | 'sleep'> | undefined;
}

export type BuildRemoteErrorCode =
  | 'TOOLCHAIN_IMAGE_UNPINNED'
  | 'IMAGE_BASE_UNPINNED'
  | 'REMOTE_CACHE_INVALID'
  | 'SIGNING_KEY_PASSWORD'
  | 'SIGNING_KEY_UNREADABLE'
  | 'TRUST_KEY_UNREADABLE';

/** `opts` with the run's environment for registries, unless it names its own. */
export function withRunEnv(
  opts: RemoteBuildOptions,
  env: Readonly<Record<string, string | undefined>>,
): RemoteBuildOptions {
  return { ...opts, registry: { ...opts.registry, env: opts.registry?.env ?? env } };
}

/** One client per registry for the whole build, created on first use. */
function clients(
  opts: RemoteBuildOptions,
  events: EventSink,
): (registry: string) => Promise<RegistryClient> {
  const made = new Map<string, Promise<RegistryClient>>();
  return (registry) => {
    let c = made.get(registry);
    if (!c) {
      c = import('./registry-context.js').then(({ clientFor }) =>
        clientFor(registry, { ...opts.registry, insecure: opts.insecure, events }),
      );
      made.set(registry, c);
    }
    return c;
  };
}

/**
 * The build hooks that reach registries: `imageRoots` unpacks toolchain
 * images pinned by digest (once per image and build), `remoteCache` is set
 * when the flag or `cache.remote` names a repository.
 */
export async function registryHooks(
  project: ProjectConfig,
  store: Store,
  opts: RemoteBuildOptions,
  events: EventSink,
  statCache?: StatCache,
): Promise<{ imageRoots: ImageRoots; imageBases: ImageBases; remoteCache?: RemoteCache }> {
  const client = clients(opts, events);
  const bases = new Map<string, ReturnType<ImageBases['resolve']>>();
  const imageBases: ImageBases = {
    resolve(text) {
      let got = bases.get(text);
      if (!got) {
        got = (async () => {
          const { ensureImage, parseRegistryRef } = await registry();
          const ref = parseRegistryRef(text);
          if (ref.digest === undefined) {
            throw new AirlockError<BuildRemoteErrorCode>(
              'IMAGE_BASE_UNPINNED',
              `base image ${text} is not pinned by digest`,
              {
                hint: `Run \`airlock pin\` to rewrite image.base in ${project.file} to its digest.`,
                details: { image: text },
              },
            );
          }
          const image = await ensureImage(
            await client(ref.registry),
            ref.repository,
            ref.digest,
            store,
            { events },
          );
          const config = await store.getBytes(image.manifest.config.digest);
          return {
            digest: image.digest,
            layers: image.manifest.layers,
            config: Buffer.from(config),
          };
        })();
        bases.set(text, got);
      }
      return got;
    },
  };
  const roots = new Map<string, Promise<{ digest: `sha256:${string}`; root: string }>>();
  const imageRoots: ImageRoots = {
    resolve(text) {
      let root = roots.get(text);
      if (!root) {
        root = (async () => {
          const { ensureImageRoot, formatRegistryRef, parseRegistryRef } = await registry();
          const ref = parseRegistryRef(text);
          if (ref.digest === undefined) {
            throw new AirlockError<BuildRemoteErrorCode>(
              'TOOLCHAIN_IMAGE_UNPINNED',
              `toolchain image ${text} is not pinned by digest`,
              {
                hint: `Run \`airlock pin\` or write it as ${formatRegistryRef({ registry: ref.registry, repository: ref.repository })}@sha256:<digest> in ${project.file}.`,
                details: { image: text },
              },
            );
          }
          const got = await ensureImageRoot(
            await client(ref.registry),
            ref.repository,
            ref.digest,
            store,
            {
              events,
              limits: unpackLimits(opts.registry?.env ?? process.env),
              ...(statCache ? { treeOf: (dir: string) => rootTree(dir, statCache) } : {}),
            },
          );
          return { digest: got.digest, root: got.root };
        })();
        roots.set(text, root);
      }
      return root;
    },
  };
  const remoteConfig = remoteCacheConfig(project, opts.remoteCache);
  if (remoteConfig === undefined || opts.noRemoteCache === true) return { imageRoots, imageBases };
  const remote = remoteConfig.repository;
  const { parseRegistryRef } = await registry();
  const { registryRemoteCache } = await import('../builder/remote-cache.js');
  const ref = parseRegistryRef(remote);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new AirlockError<BuildRemoteErrorCode>(
      'REMOTE_CACHE_INVALID',
      `remote cache ${remote} names a tag or digest`,
      {
        hint: `Name only the repository: ${ref.registry}/${ref.repository} (entries are tagged by action key).`,
        details: { remoteCache: remote },
      },
    );
  }
  const env = opts.registry?.env ?? process.env;
  const password = env.AIRLOCK_PASSWORD ?? env.COSIGN_PASSWORD;
  if (remoteConfig.mode === 'readwrite' && password === undefined) {
    throw new AirlockError<BuildRemoteErrorCode>(
      'SIGNING_KEY_PASSWORD',
      `cache.remote.mode is readwrite, but the password of the signing key ${remoteConfig.signingKey ?? ''} is not set`,
      {
        hint: 'Set AIRLOCK_PASSWORD (or COSIGN_PASSWORD) to the password of the key, or use mode: read on machines that must not publish.',
      },
    );
  }
  const where = `${ref.registry}/${ref.repository}`;
  if (remoteConfig.trust === 'any') {
    events({
      type: 'log',
      level: 'warn',
      message: `remote cache ${where}: cache.remote.trust is "any": entries are used whoever made them`,
    });
  } else if (remoteConfig.trust.length === 0) {
    events({
      type: 'log',
      level: 'warn',
      message: `remote cache ${where}: no trusted builders are configured, so its entries are not used; name their public keys in cache.remote.trust in ${project.file}`,
    });
  }
  let cache: Promise<RemoteActionCache> | undefined;
  let trusted: Promise<EntryTrust> | undefined;
  // Keys are read on first use: a build that never misses locally pays nothing for them.
  const trustOnce = (): Promise<EntryTrust> => (trusted ??= loadTrust(remoteConfig, project.file));
  const get = (): Promise<RemoteActionCache> =>
    (cache ??= (async () => {
      const trust = await trustOnce();
      const signer =
        remoteConfig.mode === 'readwrite'
          ? await loadSigner(remoteConfig.signingKey!, password ?? '')
          : undefined;
      const c = await client(ref.registry);
      return registryRemoteCache({
        client: c,
        repository: ref.repository,
        store,
        events,
        trust,
        ...(signer ? { signer } : {}),
        publishLogs: remoteConfig.publishLogs,
        scrubPaths: await hostPaths([store.root, project.root]),
      });
    })());
  const usable = remoteConfig.trust === 'any' || remoteConfig.trust.length > 0;
  return {
    imageRoots,
    imageBases,
    remoteCache: {
      fetch: async (key) => (usable ? (await get()).fetch(key) : undefined),
      async distrust(key, result, origin) {
        if (!usable) return `${project.file} trusts no remote builder (cache.remote.trust)`;
        if (origin.signer === 'any' && remoteConfig.trust !== 'any')
          return 'it was restored under trust: any, which is no longer configured';
        const v = (await trustOnce()).check(origin.envelope, { actionKey: key, result });
        return v.ok ? undefined : v.reason;
      },
      ...(remoteConfig.mode === 'readwrite'
        ? { publish: async (key: Digest, result: Digest) => (await get()).publish?.(key, result) }
        : {}),
    },
  };
}

/** The remote cache of the project, with the `--remote-cache` flag naming another repository. */
export function remoteCacheConfig(
  project: ProjectConfig,
  flag: string | undefined,
): RemoteCacheConfig | undefined {
  const configured = project.cache?.remote;
  if (flag === undefined) return configured;
  return {
    ...(configured ?? { mode: 'read', trust: [], publishLogs: false }),
    repository: flag,
  };
}

/** A path and its real path (a store under a symlinked home shows up in logs either way). */
async function hostPaths(paths: string[]): Promise<string[]> {
  const out = [...paths];
  for (const p of paths) out.push(await realpath(p).catch(() => p));
  return out;
}

/** The trust check for remote entries: the configured public keys, or anything (`trust: any`). */
export async function loadTrust(
  config: RemoteCacheConfig,
  configFile: string,
): Promise<EntryTrust> {
  if (config.trust === 'any') return { check: () => ({ ok: true, signer: 'any' }) };
  const { decodePublicKey, verifyCacheEntry } = await import('../sign/index.js');
  const keys: PublicKeyInfo[] = [];
  for (const file of config.trust) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new AirlockError<BuildRemoteErrorCode>(
        'TRUST_KEY_UNREADABLE',
        `trusted builder key ${file} cannot be read (${errnoCode(err) ?? String(err)})`,
        {
          hint: `Fix cache.remote.trust in ${configFile}: it lists public key files (cosign.pub).`,
        },
      );
    }
    keys.push(decodePublicKey(text, `trusted builder key ${file}`));
  }
  return {
    check(envelope, expected) {
      const v = verifyCacheEntry(envelope, expected, keys);
      return v.ok ? { ok: true, signer: v.keyId } : { ok: false, reason: v.reason };
    },
  };
}

/** Decrypts the signing key of a readwrite cache client. */
async function loadSigner(file: string, password: string): Promise<EntrySigner> {
  const { decodePrivateKey, signCacheEntry } = await import('../sign/index.js');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AirlockError<BuildRemoteErrorCode>(
      'SIGNING_KEY_UNREADABLE',
      `signing key ${file} cannot be read (${errnoCode(err) ?? String(err)})`,
      { hint: 'Fix cache.remote.signingKey, or create a key pair with `airlock keygen`.' },
    );
  }
  const key = await decodePrivateKey(text, password, `signing key ${file}`);
  return { sign: (actionKey, result) => signCacheEntry(key, actionKey, result) };
}
