import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, rename, rm, symlink } from 'node:fs/promises';
import {
  accessSync,
  chmodSync,
  constants as fsConstants,
  copyFileSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import type { PackEntry } from '../archive/pack.js';
import { dirname, join } from 'node:path';
import picomatch from 'picomatch';
import { sourceDateEpochOf, type ProjectConfig, type TargetConfig } from '../config/index.js';
import { systemClock, type Clock } from '../core/clock.js';
import { compareBytes } from '../core/compare.js';
import { digestJson } from '../core/canonical.js';
import { digestHex, sha256, type Digest } from '../core/digest.js';
import { AirlockError, isAirlockError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { treeDigest, type TreeEntry } from '../core/tree.js';
import { changedSince, hashTree } from '../hash/inputs.js';
import type { StatCache } from '../hash/stat-cache.js';
import { assertInsideRoot, globMatcher, walkGlobs } from '../hash/walk.js';
import { SANDBOX_PROFILE, sandboxProfile } from '../sandbox/profile.js';
import type { SandboxSpec } from '../sandbox/types.js';
import { MEDIA, ociArch, type Descriptor } from '../oci/index.js';
import type { Store } from '../store/index.js';
import {
  ACTION_FORMAT,
  RESULT_FORMAT,
  actionKey,
  type Action,
  type ActionResult,
  type BuildRecord,
  type LockedInput,
} from './action.js';
import { imageDocuments } from './artifact.js';
import type { BuildErrorCode } from './errors.js';
import { isVcsPath, outputViolations } from './output-guard.js';
import type { BuildRecords } from './records.js';
import { DEFAULT_SOURCE_DATE_EPOCH, gitHead, gitSourceDateEpoch } from './sde.js';
import { planInputBinds } from './staging.js';
import { resolveHostTools, type HostTool } from './toolchain.js';

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
  /** Measures step timings recorded in results (never in outputs); default: the system clock. */
  clock?: Clock;
  /** Unpacks `toolchain.image` references (pinned by digest) into read-only sandbox roots. */
  imageRoots?: ImageRoots;
  /** Installs a target's locked npm dependencies offline (src/pipeline/npm-install.ts): staged at `dest`, its tree in the key. */
  npmInstall?: (
    target: TargetConfig,
  ) => Promise<{ tree: Digest; dir: string; dest: string } | undefined>;
  /** The airlock.lock entries a target uses, for its action key (src/pipeline/lock.ts). */
  lockedInputs?: (target: TargetConfig) => LockedInput[];
  /** Memo of per-build facts (git HEAD, warnings already given). */
  memo: {
    head?: Promise<string | undefined>;
    warnedNoGit?: boolean;
    tools: Map<string, Promise<HostTool[]>>;
  };
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

/** The directory of the extracted output tree cache for `tree`. */
function treeDir(store: Store, tree: Digest): string {
  return join(store.root, 'airlock', 'v1', 'trees', digestHex(tree));
}

/**
 * Computes a target's action (inputs hashed through the stat cache,
 * toolchain resolved, SOURCE_DATE_EPOCH decided) without building anything.
 */
export async function planAction(
  ctx: BuildContext,
  target: TargetConfig,
  deps: ReadonlyMap<string, TargetBuild>,
): Promise<{
  action: Action;
  key: Digest;
  inputs: TreeEntry[];
  tools: HostTool[];
  walk: Awaited<ReturnType<typeof walkGlobs>>;
  /** Stat signature of every input when it was hashed (to catch changes during the build). */
  sigs: Map<string, string>;
  rootfs?: string;
  npm?: { tree: Digest; dir: string; dest: string };
}> {
  const root = ctx.sourceRoot ?? ctx.project.root;
  const walk = await walkGlobs(root, target.sources, sourceExcludes(ctx, target));
  for (const pattern of target.sources) {
    const m = globMatcher([pattern]);
    if (!walk.matched.some((e) => m(e.path))) {
      throw new AirlockError<BuildErrorCode>(
        'GLOB_NO_MATCH',
        `target "${target.name}": sources pattern "${pattern}" matches no file`,
        {
          hint: `Fix the pattern in ${ctx.project.file} (targets.${target.name}.sources) or add the missing files; outputs of targets never count as sources.`,
          details: { target: target.name, pattern },
        },
      );
    }
  }
  const sigs = new Map<string, string>();
  const inputs = await hashTree(root, walk.matched, ctx.statCache, ctx.events, sigs);
  const toolKey = target.toolchain.host.join('\0');
  let toolsP = ctx.memo.tools.get(toolKey);
  if (!toolsP) {
    toolsP = resolveHostTools(target.toolchain.host, ctx.statCache);
    ctx.memo.tools.set(toolKey, toolsP);
  }
  const tools = await toolsP;
  // --- toolchain image: its manifest digest is the toolchain ---
  const image = target.toolchain.image;
  if (image !== undefined && !ctx.imageRoots) {
    throw new AirlockError<BuildErrorCode>(
      'TOOLCHAIN_IMAGE_UNAVAILABLE',
      `target "${target.name}": toolchain image ${image} cannot be used by this command`,
      { hint: 'Build it with `airlock build`, which pulls and unpacks toolchain images.' },
    );
  }
  const imageRoot = image === undefined ? undefined : await ctx.imageRoots!.resolve(image);
  // --- end toolchain image ---
  const sourceDateEpoch = await sourceDateEpochFor(ctx, target);
  const action: Action = {
    format: ACTION_FORMAT,
    toolchain: imageRoot
      ? [{ name: 'image', digest: imageRoot.digest }]
      : tools.map((t) => ({ name: t.name, digest: t.digest })),
    inputs: treeDigest(inputs),
    deps: target.deps.map((d) => {
      const built = deps.get(d.target);
      if (!built) throw new Error(`dependency ${d.target} of ${target.name} was not built first`);
      return { target: d.target, path: d.path, outputs: built.result.outputs.tree };
    }),
    steps: target.steps,
    env: target.env,
    outputs: target.outputs,
    sourceDateEpoch,
    platform: { os: process.platform, arch: process.arch },
    sandbox: imageRoot ? digestJson(sandboxProfile('image')) : sandboxProfileDigest(),
  };
  const locked = ctx.lockedInputs?.(target) ?? [];
  if (locked.length > 0) action.locked = locked;
  const npm = await ctx.npmInstall?.(target);
  if (npm) action.deps.push({ target: 'npm install', path: npm.dest, outputs: npm.tree });
  return {
    action,
    key: actionKey(action),
    inputs,
    tools,
    walk,
    sigs,
    ...(imageRoot ? { rootfs: imageRoot.root } : {}),
    ...(npm ? { npm } : {}),
  };
}

/** What never counts as a source of `target`: its excludes and every target's outputs nearby. */
function sourceExcludes(ctx: BuildContext, target: TargetConfig): string[] {
  const allOutputs = [...ctx.project.targets.values()].flatMap((t) => t.outputs);
  return [...target.exclude, ...mayOverlap(allOutputs, target.sources)];
}

/**
 * Refuses to record a build whose inputs changed while its steps ran (an
 * editor, another process, or a target writing into these sources): the
 * step may have seen bytes the action key does not describe.
 */
async function assertInputsUnchanged(
  ctx: BuildContext,
  target: TargetConfig,
  plan: Awaited<ReturnType<typeof planAction>>,
): Promise<void> {
  const root = ctx.sourceRoot ?? ctx.project.root;
  const now = await walkGlobs(root, target.sources, sourceExcludes(ctx, target));
  const before = plan.walk.matched.map((e) => e.path);
  const added = now.matched.map((e) => e.path).filter((p) => !plan.sigs.has(p));
  const changed = [...added, ...changedSince(root, plan.walk.matched, plan.sigs)];
  if (changed.length === 0 && now.matched.length === before.length) return;
  const shown =
    changed.length > 0 ? changed : before.filter((p) => !now.matched.some((e) => e.path === p));
  throw new AirlockError<BuildErrorCode>(
    'INPUTS_CHANGED',
    `target "${target.name}": ${shown.length} input(s) changed while it was building (${shown.slice(0, 5).join(', ')}${shown.length > 5 ? ', …' : ''}); nothing was cached`,
    {
      hint: "Build again once nothing else writes to the sources; if a target writes into another target's sources, declare it as a dependency instead.",
      details: { target: target.name, paths: shown },
    },
  );
}

let profileDigest: Digest | undefined;
/** The digest of the sandbox profile (its canonical JSON is large: computed once). */
function sandboxProfileDigest(): Digest {
  profileDigest ??= digestJson(SANDBOX_PROFILE);
  return profileDigest;
}

/** The globs of `candidates` whose literal base can share a directory with some glob of `within`. */
function mayOverlap(candidates: readonly string[], within: readonly string[]): string[] {
  const base = (g: string): string => {
    let b = baseCache.get(g);
    if (b === undefined) {
      const scan = picomatch.scan(g);
      b = scan.isGlob ? scan.base : g;
      baseCache.set(g, b);
    }
    return b;
  };
  const bases = within.map(base);
  const related = (a: string, b: string): boolean =>
    a === '' ||
    b === '' ||
    a === b ||
    a.startsWith(`${b}/`) ||
    b.startsWith(`${a}/`) ||
    dirOf(a) === dirOf(b);
  return candidates.filter((c) => bases.some((b) => related(base(c), b)));
}

const baseCache = new Map<string, string>();
const dirOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');

/** SOURCE_DATE_EPOCH: declared override, else the last git commit touching the sources, else a fixed default. */
async function sourceDateEpochFor(ctx: BuildContext, target: TargetConfig): Promise<number> {
  const declared = sourceDateEpochOf(ctx.project, target);
  if (declared !== undefined) return declared;
  const root = ctx.project.root;
  ctx.memo.head ??= gitHead(root);
  const head = await ctx.memo.head;
  const pathspecs = [
    ...target.sources.map((s) => `:(glob)${s}`),
    ...target.exclude.map((s) => `:(glob,exclude)${s}`),
  ];
  if (head) {
    const key = `${head}\0${pathspecs.join('\0')}`;
    const cached = ctx.records.sde(key);
    if (cached !== undefined) return cached;
    const fromGit = await gitSourceDateEpoch(root, pathspecs);
    if (fromGit !== undefined) {
      ctx.records.setSde(key, fromGit);
      return fromGit;
    }
  }
  if (!ctx.memo.warnedNoGit) {
    ctx.memo.warnedNoGit = true;
    ctx.events({
      type: 'log',
      level: 'warn',
      message: `no git commit touches the sources of "${target.name}" (not a git repository, or uncommitted); SOURCE_DATE_EPOCH defaults to ${DEFAULT_SOURCE_DATE_EPOCH} (1980-01-01). Commit the sources or set sourceDateEpoch in airlock.yaml.`,
    });
  }
  return DEFAULT_SOURCE_DATE_EPOCH;
}

/**
 * Builds one target: a verified action-cache hit restores its outputs without
 * running a step; a miss runs every step in the sandbox, packs the outputs
 * into one deterministic layer, and records result, artifact and tag.
 */
export async function buildTarget(
  ctx: BuildContext,
  target: TargetConfig,
  deps: ReadonlyMap<string, TargetBuild>,
): Promise<TargetBuild> {
  const plan = await planAction(ctx, target, deps);
  const { action, key } = plan;
  const record: BuildRecord = {
    format: 'airlock.build-record/v1',
    target: target.name,
    key,
    action,
    inputs: plan.inputs,
    blobs: [],
  };

  /** Tags the artifact, remembers the build for `why`, and reports the target done. */
  const finish = async (
    cached: boolean,
    resultDigest: Digest,
    result: ActionResult,
    origin?: RemoteOrigin,
  ): Promise<TargetBuild> => {
    const tagged = await tagArtifact(ctx, target, result, action.sourceDateEpoch);
    await remember(ctx, target, record);
    ctx.events({
      type: 'target',
      target: target.name,
      state: cached ? 'cached' : 'built',
      ...(origin ? { detail: describeOrigin(origin) } : {}),
    });
    const sourceDateEpoch = action.sourceDateEpoch;
    return {
      target: target.name,
      key,
      cached,
      resultDigest,
      result,
      ...tagged,
      sourceDateEpoch,
      ...(origin ? { origin } : {}),
    };
  };

  if (ctx.useCache) {
    const hit = await cachedResult(ctx, target, key);
    const restored = hit && (await restoreOrForget(ctx, target, key, hit.result));
    if (hit && restored) return finish(true, hit.digest, hit.result, hit.origin);
  }

  ctx.events({ type: 'target', target: target.name, state: 'running' });
  const clock = ctx.clock ?? systemClock;
  const started = clock.now();
  const workDir = await ctx.store.ownedTempDir('work');
  try {
    const spec = await stage(ctx, target, plan, deps, workDir);
    const logs: ActionResult['logs'] = [];
    for (let i = 0; i < target.steps.length; i++) {
      const command = target.steps[i]!;
      ctx.events({
        type: 'step',
        target: target.name,
        index: i,
        total: target.steps.length,
        command,
      });
      const { runInSandbox } = await import('../sandbox/run.js');
      const run = await runInSandbox({
        ...spec,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        command,
        timeoutMs: target.limits.timeoutSeconds * 1000,
        maxOutputBytes: target.limits.logBytes,
        tmpfsBytes: { tmp: target.limits.tmpBytes, home: target.limits.homeBytes },
        onOutput: (stream, chunk) =>
          ctx.events({ type: 'output', target: target.name, stream, text: chunk.toString('utf8') }),
      }).catch((err: unknown) => {
        throw stepLimitError(ctx, target, i, err);
      });
      // A failed step's own failure wins over a failure to save its logs (a full disk, say).
      const saved = await saveLogs(ctx, run).catch((err: unknown) => {
        if (run.exitCode === 0) throw err;
        return err instanceof Error ? err : new Error(String(err));
      });
      if (!(saved instanceof Error)) logs.push({ step: i, ...saved });
      if (run.exitCode !== 0) {
        const tail = Buffer.concat([run.stdout, run.stderr])
          .toString('utf8')
          .trimEnd()
          .split('\n')
          .slice(-20)
          .join('\n');
        throw new AirlockError<BuildErrorCode>(
          'STEP_FAILED',
          `target "${target.name}": step ${i + 1} of ${target.steps.length} (${command}) exited with status ${run.exitCode}${run.signal ? ` (${run.signal})` : ''}${tail ? `\n--- last lines of its output ---\n${tail}` : ' and printed nothing'}`,
          {
            hint: `Fix the step in ${ctx.project.file} (targets.${target.name}.steps[${i}]); ${saved instanceof Error ? `its full output could not be saved (${saved.message})` : `its full output is in the store: stdout blob ${saved.stdout}, stderr blob ${saved.stderr}`}. Remember the sandbox has no network and sees only declared sources.`,
            details: {
              target: target.name,
              step: i,
              exitCode: run.exitCode,
              signal: run.signal,
              ...(saved instanceof Error ? { logsNotSaved: saved.message } : saved),
            },
          },
        );
      }
    }
    await assertInputsUnchanged(ctx, target, plan);
    const outputs = await collectOutputs(ctx, target, workDir, spec);
    // The archive and sandbox modules load only when something is built or
    // restored: a no-op build never pays for them.
    const { packTarGz } = await import('../archive/pack.js');
    const packed = packTarGz(outputs, { mtime: action.sourceDateEpoch });
    const layer = await ctx.store.putStream(packed.stream);
    const pack = await packed.result;
    const result: ActionResult = {
      format: RESULT_FORMAT,
      actionKey: key,
      exitCode: 0,
      outputs: {
        tree: treeDigest(pack.entries),
        entries: pack.entries,
        layer: { digest: layer.digest, size: layer.size, diffId: pack.diffId },
      },
      logs,
      timings: { durationMs: clock.now() - started },
      blobs: [layer.digest, ...logs.flatMap((l) => [l.stdout, l.stderr])],
    };
    const stored = await ctx.store.putJson(result);
    if (ctx.useCache) {
      await ctx.store.putAction(key, stored.digest);
      ctx.records.setOrigin(key, stored.digest, undefined);
      await ctx.remoteCache?.publish?.(key, stored.digest);
    }
    await adoptTree(ctx, workDir, result);
    if (ctx.materialize) await materialize(ctx, target, result);
    return await finish(false, stored.digest, result);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** A step killed for running too long or printing too much, as an error naming the step and the key to raise; anything else unchanged. */
function stepLimitError(ctx: BuildContext, target: TargetConfig, i: number, err: unknown): unknown {
  const step = `target "${target.name}": step ${i + 1} of ${target.steps.length} (${target.steps[i]})`;
  const details = { target: target.name, step: i };
  if (isAirlockError(err, 'SANDBOX_TIMEOUT')) {
    return new AirlockError<BuildErrorCode>(
      'STEP_TIMEOUT',
      `${step} ran longer than its timeout of ${target.limits.timeoutSeconds} s; it was killed with everything it started`,
      {
        hint: `Make the step finish sooner, or raise targets.${target.name}.timeout in ${ctx.project.file} (e.g. timeout: 2h).`,
        details: { ...details, timeoutSeconds: target.limits.timeoutSeconds },
        cause: err,
      },
    );
  }
  if (isAirlockError(err, 'SANDBOX_OUTPUT_LIMIT')) {
    return new AirlockError<BuildErrorCode>(
      'STEP_LOG_LIMIT',
      `${step} printed more than ${target.limits.logBytes} bytes; it was killed`,
      {
        hint: `Print less (send verbose output to a file under /tmp), or raise targets.${target.name}.limits.log in ${ctx.project.file}.`,
        details: { ...details, logBytes: target.limits.logBytes },
        cause: err,
      },
    );
  }
  return err;
}

/** "restored from remote cache <repo>, signed by <key id>" (or the trust: any warning). */
export function describeOrigin(origin: RemoteOrigin): string {
  return origin.signer === 'any'
    ? `restored from remote cache ${origin.repository}, unsigned or unchecked (trust: any)`
    : `restored from remote cache ${origin.repository}, signed by ${origin.signer}`;
}

/**
 * The cached result for `key` (local action cache first, then the remote
 * cache), verified down to its layer and allowed to write only the target's
 * declared outputs; anything corrupt or out of bounds means a rebuild. A
 * remote result enters the local action cache only once it passed every check.
 */
async function cachedResult(
  ctx: BuildContext,
  target: TargetConfig,
  key: Digest,
): Promise<{ digest: Digest; result: ActionResult; origin?: RemoteOrigin } | undefined> {
  const local = (await ctx.store.getAction(key))?.result;
  if (local) {
    const origin = ctx.records.origin(key, local);
    // Trust is re-checked at every use: removing a builder's key from the
    // config stops its entries at once, not only after `store fsck`.
    const distrust = origin
      ? ctx.remoteCache
        ? await ctx.remoteCache.distrust(key, local, origin)
        : 'the project no longer configures a remote cache to trust'
      : undefined;
    if (distrust !== undefined) {
      ctx.events({
        type: 'log',
        level: 'warn',
        message: `cache entry ${key} for target "${target.name}", ${describeOrigin(origin!)}, is no longer trusted (${distrust}); building instead`,
      });
    }
    const result =
      distrust === undefined ? await usableResult(ctx, target, key, local, origin) : undefined;
    if (result && origin?.signer === 'any') {
      ctx.events({
        type: 'log',
        level: 'warn',
        message: `target "${target.name}": using cache entry ${key}, ${describeOrigin(origin)}; \`airlock store fsck --trust-of <project>\` drops such entries once trust is configured`,
      });
    }
    if (result) return { digest: local, result, ...(origin ? { origin } : {}) };
    await ctx.store.deleteAction(key);
    ctx.records.setOrigin(key, local, undefined);
  }
  if (!ctx.remoteCache) return undefined;
  const hit = await ctx.remoteCache.fetch(key);
  if (!hit) return undefined;
  const { result: digest, ...origin } = hit;
  const result = await usableResult(ctx, target, key, digest, origin);
  if (!result) return undefined;
  // Origin first: a crash in between must never leave a remote entry looking locally built.
  ctx.records.setOrigin(key, digest, origin);
  await ctx.store.putAction(key, digest);
  return { digest, result, origin };
}

/** The result `digest` when it is a well-formed, intact result of `key` that writes only declared outputs. */
async function usableResult(
  ctx: BuildContext,
  target: TargetConfig,
  key: Digest,
  digest: Digest,
  origin: RemoteOrigin | undefined,
): Promise<ActionResult | undefined> {
  const where = origin ? `remote cache entry from ${origin.repository}` : 'cache entry';
  const refuse = (why: string): undefined => {
    ctx.events({
      type: 'log',
      level: 'warn',
      message: `${where} ${key} for target "${target.name}" refused: ${why}; building instead`,
    });
    return undefined;
  };
  try {
    const result = await ctx.store.getJson<ActionResult>(digest);
    if (result.format !== RESULT_FORMAT || result.actionKey !== key || result.exitCode !== 0)
      return refuse('it is not a successful result of this action');
    const entries = Array.isArray(result.outputs?.entries) ? result.outputs.entries : undefined;
    if (!entries) return refuse('it lists no outputs');
    const problems = outputViolations(target.outputs, entries);
    if (problems.length > 0) {
      const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? '; …' : '');
      return refuse(
        `it would write outside the target's declared outputs (${shown}); nothing was written`,
      );
    }
    if (treeDigest(entries) !== result.outputs.tree)
      return refuse('its tree digest does not match its entries');
    await verifyBlobCheaply(ctx, result.outputs.layer.digest);
    return result;
  } catch (err) {
    if (isAirlockError(err, 'BLOB_CORRUPT', 'BLOB_NOT_FOUND')) {
      ctx.events({
        type: 'log',
        level: 'warn',
        message: `cache entry ${key} is unusable (${err.message}); rebuilding`,
      });
      return undefined;
    }
    throw err;
  }
}

/**
 * Re-verifies a blob cheaply: through the stat cache when the blob file is
 * unchanged since it was last hashed (like git's index), by re-hashing it
 * otherwise; a mismatch is quarantined by the store and thrown as BLOB_CORRUPT.
 */
async function verifyBlobCheaply(ctx: BuildContext, digest: Digest): Promise<void> {
  const path = ctx.store.blobPath(digest);
  const [entry] = await hashTree('/', [{ path: path.slice(1), kind: 'file' }], ctx.statCache);
  if (entry?.kind === 'file' && entry.digest === digest) return;
  await ctx.store.verifiedPath(digest);
}

/** Restores a hit's outputs; a corrupt blob met on the way drops the entry so the target rebuilds. */
async function restoreOrForget(
  ctx: BuildContext,
  target: TargetConfig,
  key: Digest,
  result: ActionResult,
): Promise<boolean> {
  if (!ctx.materialize) return true;
  try {
    await materialize(ctx, target, result);
    return true;
  } catch (err) {
    if (!isAirlockError(err, 'BLOB_CORRUPT', 'BLOB_NOT_FOUND')) throw err;
    ctx.events({
      type: 'log',
      level: 'warn',
      message: `cache entry ${key} is unusable (${err.message}); rebuilding`,
    });
    await ctx.store.deleteAction(key);
    return false;
  }
}

/** The sandbox spec shared by every step of a target: binds, tools, env. */
async function stage(
  ctx: BuildContext,
  target: TargetConfig,
  plan: Awaited<ReturnType<typeof planAction>>,
  deps: ReadonlyMap<string, TargetBuild>,
  workDir: string,
): Promise<Omit<SandboxSpec, 'command'> & { staged: Set<string>; stagedDirs: string[] }> {
  const root = ctx.sourceRoot ?? ctx.project.root;
  const files = plan.inputs.filter((e) => e.kind === 'file').map((e) => e.path);
  const binds = planInputBinds({
    inputs: files,
    // Every walked path, symlinks and special files included: a directory holding
    // any symlink is never bound whole (declared symlinks are recreated, undeclared
    // ones stay unseen), nor one holding a socket or FIFO (a read-only bind does
    // not stop connect() or writes to a FIFO).
    all: [...plan.walk.all.map((e) => e.path), ...plan.walk.special],
    dirs: plan.walk.dirs,
    pruned: plan.walk.pruned,
    // Any target's outputs, not only this one's: another target building at the
    // same time must not be able to add files inside a directory bound whole.
    outputs: [...ctx.project.targets.values()].flatMap((t) => t.outputs),
  });
  const inputs: SandboxSpec['inputs'] = binds.map((b) => ({
    source: join(root, b.path),
    dest: b.path,
  }));
  const staged = new Set(plan.inputs.map((e) => e.path));
  const stagedDirs = binds.filter((b) => b.dir).map((b) => b.path);
  // Symlinks are recreated, never bound: a bind would follow them out of the project.
  for (const e of plan.inputs) {
    if (e.kind !== 'symlink' || stagedDirs.some((d) => e.path.startsWith(`${d}/`))) continue;
    await mkdir(dirname(join(workDir, e.path)), { recursive: true });
    await symlink(e.target, join(workDir, e.path));
  }
  for (const dep of target.deps) {
    const built = deps.get(dep.target)!;
    const dir = await ensureTree(ctx, built.result);
    const prefix = dep.path === '.' ? '' : `${dep.path}/`;
    for (const b of minimalDirs(built.result.outputs.entries)) {
      inputs.push({ source: join(dir, b.path), dest: `${prefix}${b.path}` });
      if (b.dir) stagedDirs.push(`${prefix}${b.path}`);
      else staged.add(`${prefix}${b.path}`);
    }
  }
  if (plan.npm) {
    inputs.push({ source: plan.npm.dir, dest: plan.npm.dest });
    stagedDirs.push(plan.npm.dest);
  }
  return {
    workDir,
    inputs,
    // A tool the sandbox's own PATH already finds as the very binary that was
    // hashed runs from /usr, where drivers such as gcc find their helpers (cc1,
    // as). Any other (outside /usr, or shadowed on the sandbox PATH by another
    // binary) is bound at the front of PATH, so the step runs what the key pins.
    tools: plan.tools
      .filter((t) => sandboxPathResolves(t.name) !== t.path)
      .map((t) => ({ name: t.name, path: t.path })),
    env: target.env,
    sourceDateEpoch: plan.action.sourceDateEpoch,
    ...(plan.rootfs !== undefined ? { rootfs: plan.rootfs } : {}),
    ...(ctx.variant ? { variant: ctx.variant } : {}),
    staged,
    stagedDirs,
  };
}

/** The real path the sandbox's PATH (without the tools directory) finds for `name`, if any. */
function sandboxPathResolves(name: string): string | undefined {
  for (const dir of SANDBOX_PROFILE.env.PATH.split(':')) {
    if (dir === SANDBOX_PROFILE.toolsDir || !dir.startsWith('/')) continue;
    try {
      const real = realpathSync(join(dir, name));
      accessSync(real, fsConstants.X_OK);
      return real;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The parent directories of a tree's entries, minimised (top-level files are bound one by one). */
function minimalDirs(entries: readonly TreeEntry[]): { path: string; dir: boolean }[] {
  const out: { path: string; dir: boolean }[] = [];
  const dirs = new Set<string>();
  for (const e of entries) {
    const i = e.path.lastIndexOf('/');
    if (i < 0) out.push({ path: e.path, dir: false });
    else dirs.add(e.path.slice(0, i));
  }
  const sorted = [...dirs].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const d of sorted) if (!kept.some((k) => d.startsWith(`${k}/`))) kept.push(d);
  return [...kept.map((path) => ({ path, dir: true })), ...out];
}

/** The files the steps wrote that match the output globs; staged inputs never count. */
async function collectOutputs(
  ctx: BuildContext,
  target: TargetConfig,
  workDir: string,
  spec: { staged: Set<string>; stagedDirs: string[] },
): Promise<PackEntry[]> {
  const walk = await walkGlobs(workDir, target.outputs);
  // Never a file under a VCS directory, whatever the globs say: a restore would write it into the project.
  const fresh = walk.matched.filter(
    (e) =>
      !isVcsPath(e.path) &&
      !spec.staged.has(e.path) &&
      !spec.stagedDirs.some((d) => e.path.startsWith(`${d}/`)),
  );
  for (const pattern of target.outputs) {
    const m = globMatcher([pattern]);
    if (!fresh.some((e) => m(e.path))) {
      throw new AirlockError<BuildErrorCode>(
        'OUTPUT_MISSING',
        `target "${target.name}": no step wrote a file matching output "${pattern}"`,
        {
          hint: `Make a step write it under the working directory (/src inside the sandbox), or fix targets.${target.name}.outputs in ${ctx.project.file}.`,
          details: { target: target.name, pattern },
        },
      );
    }
  }
  // No hashing here: packing computes every content digest while it reads
  // (one pass), and temp paths never enter the stat cache.
  let total = 0;
  return fresh.map((e): PackEntry => {
    const abs = join(workDir, e.path);
    const st = lstatSync(abs);
    total += st.size;
    if (total > target.limits.outputBytes) {
      throw new AirlockError<BuildErrorCode>(
        'OUTPUT_TOO_LARGE',
        `target "${target.name}": its outputs exceed the limit of ${target.limits.outputBytes} bytes (at ${e.path})`,
        {
          hint: `Declare fewer or smaller outputs, or raise targets.${target.name}.limits.outputs in ${ctx.project.file}.`,
          details: { target: target.name, outputBytes: target.limits.outputBytes, path: e.path },
        },
      );
    }
    if (!st.isSymbolicLink() && (st.mode & 0o7022) !== 0) {
      ctx.events({
        type: 'log',
        level: 'warn',
        message: `target "${target.name}": output ${e.path} has mode ${(st.mode & 0o7777).toString(8)}; it is stored as ${(st.mode & 0o111) !== 0 ? '0755' : '0644'} (setuid, setgid, sticky and group/world write are never kept)`,
      });
    }
    return st.isSymbolicLink()
      ? { path: e.path, kind: 'symlink', target: readlinkSync(abs) }
      : { path: e.path, kind: 'file', absPath: abs, executable: (st.mode & 0o111) !== 0 };
  });
}

/** Stores a step's stdout and stderr; returns their digests. */
async function saveLogs(
  ctx: BuildContext,
  run: { stdout: Uint8Array; stderr: Uint8Array },
): Promise<{ stdout: Digest; stderr: Digest }> {
  const stdout = await ctx.store.putBytes(run.stdout);
  const stderr = await ctx.store.putBytes(run.stderr);
  return { stdout: stdout.digest, stderr: stderr.digest };
}

/**
 * Moves freshly built outputs into the extracted-tree cache (used to stage
 * dependents), every file 0644 or 0755 and every directory 0755: whatever
 * mode the step gave a file (setuid, world-writable) stays out of the store.
 */
async function adoptTree(ctx: BuildContext, workDir: string, result: ActionResult): Promise<void> {
  const dest = treeDir(ctx.store, result.outputs.tree);
  if (await exists(dest)) return;
  const tmp = join(ctx.store.tmpDir, `tree-${randomBytes(8).toString('hex')}`);
  try {
    await mkdir(tmp, { mode: 0o755 });
    await chmod(tmp, 0o755);
    const made = new Set<string>();
    for (const e of result.outputs.entries) {
      const to = join(tmp, e.path);
      for (let d = dirname(e.path); d !== '.' && !made.has(d); d = dirname(d)) made.add(d);
      await mkdir(dirname(to), { recursive: true, mode: 0o755 });
      if (e.kind === 'file') {
        await rename(join(workDir, e.path), to);
        await chmod(to, e.executable ? 0o755 : 0o644);
      } else await symlink(e.target, to);
    }
    for (const d of made) await chmod(join(tmp, d), 0o755);
    await mkdir(dirname(dest), { recursive: true });
    await rename(tmp, dest).catch(async (err: unknown) => {
      if (!(await exists(dest))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** True when every file of the extracted tree at `dir` is 0644/0755 and every directory 0755. */
function hasNormalModes(dir: string, entries: readonly TreeEntry[]): boolean {
  const dirs = new Set<string>(['.']);
  for (const e of entries) {
    for (let d = dirname(e.path); d !== '.' && !dirs.has(d); d = dirname(d)) dirs.add(d);
    if (e.kind !== 'file') continue;
    const mode = lstatSync(join(dir, e.path)).mode & 0o7777;
    if (mode !== (e.executable ? 0o755 : 0o644)) return false;
  }
  for (const d of dirs) if ((lstatSync(join(dir, d)).mode & 0o7777) !== 0o755) return false;
  return true;
}

/**
 * The extracted output tree of a result, re-verified through the stat cache;
 * re-extracted from the verified layer when missing or altered.
 */
export async function ensureTree(ctx: BuildContext, result: ActionResult): Promise<string> {
  const dest = treeDir(ctx.store, result.outputs.tree);
  if (await exists(dest)) {
    const walk = await walkGlobs(dest, ['**']);
    const have = await hashTree(dest, walk.matched, ctx.statCache);
    // A socket or FIFO planted in the tree would be bound into every dependent.
    const intact = walk.special.length === 0 && hasNormalModes(dest, have);
    if (treeDigest(have) === result.outputs.tree && intact) return dest;
    await rm(dest, { recursive: true, force: true });
  }
  const tmp = join(ctx.store.tmpDir, `tree-${randomBytes(8).toString('hex')}`);
  try {
    const layer = await ctx.store.verifiedPath(result.outputs.layer.digest);
    const { extractTarGz } = await import('../archive/extract.js');
    await mkdir(tmp, { mode: 0o755 });
    await chmod(tmp, 0o755);
    const entries = await extractTarGz(layer, tmp, { normalizeModes: true });
    if (treeDigest(entries) !== result.outputs.tree) {
      throw new AirlockError(
        'BLOB_CORRUPT',
        `layer ${result.outputs.layer.digest} does not hold output tree ${result.outputs.tree}`,
      );
    }
    await mkdir(dirname(dest), { recursive: true });
    await rename(tmp, dest).catch(async (err: unknown) => {
      if (!(await exists(dest))) throw err;
    });
    return dest;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Makes the project's output paths hold exactly the result's tree: nothing
 * is written when they already do; stale files matching the globs are removed.
 */
async function materialize(
  ctx: BuildContext,
  target: TargetConfig,
  result: ActionResult,
): Promise<void> {
  const root = ctx.project.root;
  const want = new Map(result.outputs.entries.map((e) => [e.path, e]));
  // A file another target's outputs claim is that target's, unless this
  // result has it too: never compared here, never removed as stale.
  const others = globMatcher(
    [...ctx.project.targets.values()]
      .filter((t) => t.name !== target.name)
      .flatMap((t) => t.outputs),
  );
  const walk = await walkGlobs(root, target.outputs);
  const mine = walk.matched.filter(
    (e) => !isVcsPath(e.path) && (want.has(e.path) || !others(e.path)),
  );
  const have = await hashTree(root, mine, ctx.statCache);
  if (treeDigest(have) === result.outputs.tree) return;
  const src = await ensureTree(ctx, result);
  for (const e of have) if (!want.has(e.path)) rmSync(join(root, e.path), { force: true });
  const current = new Map(have.map((e) => [e.path, e]));
  const madeDirs = new Set<string>();
  // Blocking calls: outputs are usually a few small files, and one thread-pool
  // round trip per mkdir/copy/chmod costs more than the work itself.
  for (const e of [...want.values()].sort((a, b) => compareBytes(a.path, b.path))) {
    const prev = current.get(e.path);
    if (prev && JSON.stringify(prev) === JSON.stringify(e)) continue;
    const to = join(root, e.path);
    const dir = dirname(to);
    if (!madeDirs.has(dir)) {
      assertInsideRoot(root, dirname(e.path));
      mkdirSync(dir, { recursive: true });
      madeDirs.add(dir);
    }
    rmSync(to, { force: true });
    if (e.kind === 'symlink') symlinkSync(e.target, to);
    else {
      copyFileSync(join(src, e.path), to);
      chmodSync(to, e.executable ? 0o755 : 0o644);
    }
  }
}

/** Stores the image config and manifest of the result's layer and tags it `<project>/<target>`. */
async function tagArtifact(
  ctx: BuildContext,
  target: TargetConfig,
  result: ActionResult,
  sourceDateEpoch: number,
): Promise<{ manifest: Descriptor; tag: string }> {
  const docs = imageDocuments({
    layer: result.outputs.layer,
    sourceDateEpoch,
    settings: target.image,
    platform: { os: process.platform, architecture: ociArch(process.arch) },
  });
  const manifest: Descriptor = {
    mediaType: MEDIA.ociManifest,
    digest: sha256(docs.manifest),
    size: docs.manifest.byteLength,
  };
  const tag = tagFor(ctx.project.name, target.name);
  if (ctx.record === false) return { manifest, tag };
  // The config and manifest are re-created (or found byte-for-byte intact) on
  // every build, so a damaged copy never outlives the next build.
  await ctx.store.putBytes(docs.config);
  await ctx.store.putBytes(docs.manifest, { digest: manifest.digest, size: manifest.size });
  const current = await ctx.store.resolveTag(tag);
  if (current?.digest === manifest.digest) return { manifest, tag };
  await ctx.store.verifiedPath(result.outputs.layer.digest);
  await ctx.store.setTag(tag, manifest);
  return { manifest, tag };
}

/** Keeps this build's action and inputs so `airlock why` can explain the next miss. */
async function remember(
  ctx: BuildContext,
  target: TargetConfig,
  record: BuildRecord,
): Promise<void> {
  if (ctx.record === false) return;
  if (ctx.records.lastBuild(ctx.project.root, target.name)?.key === record.key) return;
  const stored = await ctx.store.putJson(record);
  ctx.records.setLastBuild(ctx.project.root, target.name, record.key, stored.digest);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
