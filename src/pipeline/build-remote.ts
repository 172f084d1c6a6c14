import type { ImageRoots, RemoteCache } from '../build/executor.js';
import type { ProjectConfig } from '../config/model.js';
import { AirlockError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import type * as RegistryModule from '../registry/index.js';
import type { RegistryClient } from '../registry/index.js';
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
  /** Credentials environment, retry count and wait (tests shorten them). */
  registry?: Pick<RegistryUseCaseOptions, 'env' | 'retries' | 'sleep'> | undefined;
}

export type BuildRemoteErrorCode = 'TOOLCHAIN_IMAGE_UNPINNED';

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
): Promise<{ imageRoots: ImageRoots; remoteCache?: RemoteCache }> {
  const client = clients(opts, events);
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
  const remote = opts.remoteCache ?? project.cache?.remote;
  if (remote === undefined) return { imageRoots };
  const { parseRegistryRef, registryRemoteCache } = await registry();
  const ref = parseRegistryRef(remote);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new AirlockError<'USAGE'>('USAGE', `remote cache ${remote} names a tag or digest`, {
      hint: `Name only the repository: ${ref.registry}/${ref.repository} (entries are tagged by action key).`,
      details: { remoteCache: remote },
    });
  }
  let cache: Promise<RemoteCache> | undefined;
  const get = (): Promise<RemoteCache> =>
    (cache ??= client(ref.registry).then((c) =>
      registryRemoteCache({ client: c, repository: ref.repository, store, events }),
    ));
  return {
    imageRoots,
    remoteCache: {
      fetch: async (key) => (await get()).fetch(key),
      publish: async (key, result) => (await get()).publish(key, result),
    },
  };
}
