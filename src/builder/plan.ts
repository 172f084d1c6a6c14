import picomatch from 'picomatch';
import type { TargetConfig } from '../config/index.js';
import { digestJson } from '../core/canonical.js';
import type { Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import { treeDigest, type TreeEntry } from '../core/tree.js';
import { changedSince, hashTree } from '../hash/inputs.js';
import { globMatcher, walkGlobs } from '../hash/walk.js';
import { SANDBOX_PROFILE, sandboxProfile } from '../sandbox/profile.js';
import { ACTION_FORMAT, actionKey, type Action } from './action.js';
import { sourceRootOf, type BuildContext, type PlacedInput, type TargetBuild } from './context.js';
import type { BuildErrorCode } from './errors.js';
import { sourceDateEpochFor } from './sde.js';
import { resolveHostTools, type HostTool } from './toolchain.js';

/** A target's action with what was learnt computing it (the walk, input signatures, tools). */
export interface ActionPlan {
  action: Action;
  key: Digest;
  inputs: TreeEntry[];
  tools: HostTool[];
  walk: Awaited<ReturnType<typeof walkGlobs>>;
  /** Stat signature of every input when it was hashed (to catch changes during the build). */
  sigs: Map<string, string>;
  rootfs?: string;
  /** The offline npm install staged at `dest` (its tree is a dep of the action). */
  npm?: {
    tree: Digest;
    dir: string;
    dest: string;
    binds?: string[];
    ready: () => Promise<string>;
  };
  /** Fetched `files:` entries bound at their paths (each tree a dep of the action). */
  placed: PlacedInput[];
}

/**
 * Computes a target's action (inputs hashed through the stat cache,
 * toolchain resolved, SOURCE_DATE_EPOCH decided) without building anything.
 */
export async function planAction(
  ctx: BuildContext,
  target: TargetConfig,
  deps: ReadonlyMap<string, TargetBuild>,
): Promise<ActionPlan> {
  const root = sourceRootOf(ctx);
  const walk = await walkGlobs(root, target.sources, sourceExcludes(ctx, target), ctx.fsHint);
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
  const inputs = await hashTree(root, walk.matched, ctx.statCache, ctx.events, sigs, ctx.fsHint);
  const toolKey = target.toolchain.host.join('\0');
  let toolsP = ctx.memo.tools.get(toolKey);
  if (!toolsP) {
    toolsP = resolveHostTools(target.toolchain.host, ctx.statCache, ctx.env ?? process.env);
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
      : tools.flatMap((t) => [
          { name: t.name, digest: t.digest },
          ...(t.package ? [{ name: `${t.name} package`, digest: t.package.tree }] : []),
        ]),
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
  const placed = (await ctx.lockedFiles?.(target)) ?? [];
  for (const f of placed) action.deps.push({ target: f.name, path: f.dest, outputs: f.tree });
  return {
    action,
    key: actionKey(action),
    inputs,
    tools,
    walk,
    sigs,
    ...(imageRoot ? { rootfs: imageRoot.root } : {}),
    ...(npm ? { npm } : {}),
    placed,
  };
}

/** What never counts as a source of `target`: its excludes and every target's outputs nearby. */
function sourceExcludes(ctx: BuildContext, target: TargetConfig): string[] {
  let byTarget = excludesOf.get(ctx);
  if (byTarget === undefined) {
    // Worked out once per build: for each target, twice (plan and the check after its steps).
    byTarget = new Map();
    excludesOf.set(ctx, byTarget);
  }
  let excludes = byTarget.get(target);
  if (excludes === undefined) {
    const allOutputs = [...ctx.project.targets.values()].flatMap((t) => t.outputs);
    excludes = [...target.exclude, ...mayOverlap(allOutputs, target.sources)];
    byTarget.set(target, excludes);
  }
  return excludes;
}
const excludesOf = new WeakMap<BuildContext, Map<TargetConfig, string[]>>();

/**
 * Refuses to record a build whose inputs changed while its steps ran (an
 * editor, another process, or a target writing into these sources): the
 * step may have seen bytes the action key does not describe.
 */
export async function assertInputsUnchanged(
  ctx: BuildContext,
  target: TargetConfig,
  plan: ActionPlan,
): Promise<void> {
  const root = sourceRootOf(ctx);
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
