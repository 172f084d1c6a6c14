import type { PackEntry, PackOptions, PackResult } from '../archive/pack.js';
import type { ProjectConfig, TargetConfig } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import type { Digest } from '../core/digest.js';
import type { EventSink } from '../core/events.js';
import type { FsHint } from '../hash/hint.js';
import type { StatCache } from '../hash/stat-cache.js';
import type { Descriptor } from '../oci/index.js';
import type { SandboxResult, SandboxSpec } from '../sandbox/types.js';
import type { Store } from '../store/index.js';
import type { Action, ActionResult, LockedInput } from './action.js';
import type { BuildRecords } from './records.js';
import type { HostEnv, HostTool } from './toolchain.js';

/** Where a remote hit came from and who vouched for it. */
export interface RemoteOrigin {
  /** `<registry>/<repository>` of the remote cache. */
  repository: string;
  /** Key id of the trusted builder that signed the entry, or `any` (trust: any). */
  signer: string;
  /** The entry's DSSE signature envelope, kept so the trust can be re-checked. */
  envelope?: Buffer;
}

/**
 * A cache shared between machines (a registry repository). Both methods
 * absorb their own faults: a miss or a fault is `undefined`, never an error.
 */
export interface RemoteCache {
  /**
   * Brings the result of `key` and every blob it declares into the local
   * store, verified, when a trusted builder signed it; its digest and origin, or undefined.
   */
  fetch(key: Digest): Promise<({ result: Digest } & RemoteOrigin) | undefined>;
  /** Publishes a successful local result (absent on a read-only client, which never pushes). */
  publish?(key: Digest, result: Digest): Promise<void>;
  /**
   * Why an entry restored earlier from a remote cache is no longer trusted
   * under the current configuration (undefined: still trusted).
   */
  distrust(key: Digest, result: Digest, origin: RemoteOrigin): Promise<string | undefined>;
}

/** Turns a toolchain image reference `<registry>/<repo>@sha256:…` into its digest and an unpacked root filesystem. */
export interface ImageRoots {
  resolve(ref: string): Promise<{ digest: Digest; root: string }>;
}

/**
 * Brings a base image `<registry>/<repo>@sha256:…` (an index resolves to this
 * machine's platform) into the store with all its blobs, verified, and returns its
 * platform manifest's digest, layers and config bytes.
 */
export interface ImageBases {
  resolve(ref: string): Promise<{ digest: Digest; layers: Descriptor[]; config: Buffer }>;
}

/** Runs one step in the sandbox (default: bubblewrap, `sandbox/run.ts`). */
export interface SandboxRunner {
  run(spec: SandboxSpec): Promise<SandboxResult>;
}

/** Packs output files into one deterministic .tar.gz layer (default: `archive/pack.ts`). */
export interface Packer {
  pack(
    entries: PackEntry[],
    opts: PackOptions,
  ): { stream: AsyncIterable<Buffer>; result: Promise<PackResult> };
}

/** What the after-build hook is told about one target. */
export interface AfterBuild {
  /** What the executor returns for the target (tag, manifest, origin…). */
  build: TargetBuild;
  /** The action whose key `build.key` is. */
  action: Action;
  /** The result, read and verified (built now or restored from a cache). */
  result: ActionResult;
  /** True when no step ran: the result came from the local or remote action cache. */
  cached: boolean;
}

/** Everything a build needs, passed in so the builder itself holds no globals. */
export interface BuildContext {
  project: ProjectConfig;
  store: Store;
  statCache: StatCache;
  records: BuildRecords;
  events: EventSink;
  /** Read and write the action cache (default true); `repro` and `--no-cache` turn it off. */
  useCache: boolean;
  /** Where the sources are read from; `repro` points it at a copy elsewhere. Default: project.root. */
  sourceRoot?: string;
  /** Write outputs into the project directory (default true). */
  materialize: boolean;
  /** Sandbox variations for `repro`. */
  variant?: SandboxSpec['variant'];
  /** Store and tag the artifact, and remember the build for `why` (default true; `repro` turns it off). */
  record?: boolean;
  /** Consulted after a local cache miss and fed after a successful build. */
  remoteCache?: RemoteCache;
  /** Aborting (Ctrl-C) kills running steps; no new target starts. */
  signal?: AbortSignal;
  /** Where host tools are found (`PATH`, `HOME`); default: the process's environment. */
  env?: HostEnv;
  /** Measures step timings recorded in results (never in outputs); default: the system clock. */
  clock?: Clock;
  /** Unpacks `toolchain.image` references (pinned by digest) into read-only sandbox roots. */
  imageRoots?: ImageRoots;
  /** Pulls `image.base` references (pinned by digest) for runnable images. */
  imageBases?: ImageBases;
  /** Runs steps; default: bubblewrap, loaded only when a step runs. */
  runner?: SandboxRunner;
  /** Packs outputs; default: the deterministic tar.gz writer, loaded only when a step runs. */
  packer?: Packer;
  /**
   * Called once per target that built or was restored, after its artifact is
   * tagged and its build recorded, before the target is reported done. An
   * error it throws fails the target (fail closed: an attestation that could
   * not be written is a failed build); the outputs stay cached.
   */
  afterBuild?: (done: AfterBuild) => Promise<void>;
  /**
   * Awaited before the build first writes into the project (outputs
   * materialized); a build that writes nothing never waits for it.
   */
  beforeProjectWrite?: () => Promise<void>;
  /** Installs a target's locked npm dependencies offline (src/pipeline/npm-install.ts): staged at `dest`, its tree in the key. */
  npmInstall?: (target: TargetConfig) => Promise<
    | {
        tree: Digest;
        dir: string;
        dest: string;
        /** Directories of `dir` bound at the same path under `dest`; absent: `dir` at `dest`. */
        binds?: string[];
        ready: () => Promise<string>;
      }
    | undefined
  >;
  /** The `files:` entries a target names, placed read-only at their paths (src/pipeline/locked-files.ts); each tree is a dep of the action. */
  lockedFiles?: (target: TargetConfig) => Promise<PlacedInput[]>;
  /** The store blobs of the airlock.lock entries a target uses (its build record keeps them from gc). */
  lockedBlobs?: (target: TargetConfig) => Digest[];
  /** The airlock.lock entries a target uses, for its action key (src/pipeline/lock.ts). */
  lockedInputs?: (target: TargetConfig) => LockedInput[];
  /**
   * What a file watcher knows unchanged since the last build (the build
   * daemon's): the walk and input hashing skip reading those; absent, they
   * read everything. Never consulted to check that inputs did not change while a step ran.
   */
  fsHint?: FsHint;
  /** Memo of per-build facts (git HEAD, warnings already given). */
  memo: {
    head?: Promise<string | undefined>;
    warnedNoGit?: boolean;
    tools: Map<string, Promise<HostTool[]>>;
    /**
     * Output trees this build moved into the store itself (adoptTree), from
     * the files packing had just read: their digests are known, never hashed again.
     */
    adoptedTrees?: Set<Digest>;
  };
}

/** A fetched input presented read-only in the sandbox: a file or a directory bound at `dest`. */
export interface PlacedInput {
  /** How the action's deps name it: `file protoc`. */
  name: string;
  tree: Digest;
  /** Host path of the file or directory. */
  source: string;
  /** Project-relative path inside the sandbox. */
  dest: string;
  dir: boolean;
}

/** What building (or restoring) one target gave. */
export interface TargetBuild {
  target: string;
  key: Digest;
  cached: boolean;
  resultDigest: Digest;
  result: ActionResult;
  manifest: Descriptor;
  tag: string;
  sourceDateEpoch: number;
  /** Set when the result was restored from a remote cache (now, or by an earlier build). */
  origin?: RemoteOrigin;
}

/** The store tag of a target's artifact: `<project>/<target>`. */
export function tagFor(project: string, target: string): string {
  return `${project}/${target}`;
}

/** "restored from remote cache <repo>, signed by <key id>" (or the trust: any warning). */
export function describeOrigin(origin: RemoteOrigin): string {
  return origin.signer === 'any'
    ? `restored from remote cache ${origin.repository}, unsigned or unchecked (trust: any)`
    : `restored from remote cache ${origin.repository}, signed by ${origin.signer}`;
}

/** Where the sources of a build are read from. */
export function sourceRootOf(ctx: BuildContext): string {
  return ctx.sourceRoot ?? ctx.project.root;
}

/** The runner of `ctx`, or bubblewrap (its module loads only now: a no-op build never pays for it). */
export async function runnerOf(ctx: BuildContext): Promise<SandboxRunner> {
  if (ctx.runner) return ctx.runner;
  const { runInSandbox } = await import('../sandbox/run.js');
  return { run: runInSandbox };
}

/** The packer of `ctx`, or the deterministic tar.gz writer (loaded only now). */
export async function packerOf(ctx: BuildContext): Promise<Packer> {
  if (ctx.packer) return ctx.packer;
  const { packTarGz } = await import('../archive/pack.js');
  return { pack: packTarGz };
}
