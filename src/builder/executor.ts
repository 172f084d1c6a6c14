import { rm } from 'node:fs/promises';
import type { TargetConfig } from '../config/index.js';
import { systemClock } from '../core/clock.js';
import type { Digest } from '../core/digest.js';
import { treeDigest } from '../core/tree.js';
import { RESULT_FORMAT, type Action, type ActionResult, type BuildRecord } from './action.js';
import { cachedResult } from './cache.js';
import {
  describeOrigin,
  packerOf,
  type BuildContext,
  type RemoteOrigin,
  type TargetBuild,
} from './context.js';
import { remember } from './history.js';
import { adoptTree, collectOutputs } from './outputs.js';
import { assertInputsUnchanged, planAction } from './plan.js';
import { materialize, restoreOrForget } from './restore.js';
import { stage } from './stage.js';
import { recordStepLogs, runSteps } from './steps.js';
import { tagArtifact } from './tag.js';

/*
 * The executor of one target, stage by stage (each stage is its own file):
 *
 *   plan.ts     inputs hashed, toolchain resolved, SOURCE_DATE_EPOCH (sde.ts) → action key
 *   cache.ts    local then remote action cache, verified, output guard, trust re-checked
 *   restore.ts  a hit's outputs written into the project (materialize), tree cache
 *   stage.ts    a miss: the sandbox spec (input binds, dependency trees, tools)
 *   steps.ts    each step run by the injected SandboxRunner, logs saved
 *   outputs.ts  outputs collected, packed by the injected Packer, adopted as a tree
 *   tag.ts      image config + manifest stored, `<project>/<target>` tagged
 *   history.ts  the build record kept for `why`
 *
 * then `ctx.afterBuild` (attestations, audit) once per target.
 */

export {
  describeOrigin,
  tagFor,
  type AfterBuild,
  type BuildContext,
  type ImageBases,
  type ImageRoots,
  type Packer,
  type RemoteCache,
  type RemoteOrigin,
  type SandboxRunner,
  type TargetBuild,
} from './context.js';
export { planAction, type ActionPlan } from './plan.js';

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
    // The fetched tarballs and files the build used: kept by gc while this build is remembered.
    blobs: ctx.lockedBlobs?.(target) ?? [],
  };
  const done = (
    cached: boolean,
    resultDigest: Digest,
    result: ActionResult,
    origin?: RemoteOrigin,
  ): Promise<TargetBuild> =>
    finish(ctx, target, action, record, { cached, resultDigest, result, origin });

  if (ctx.useCache) {
    const hit = await cachedResult(ctx, target, key);
    const restored = hit && (await restoreOrForget(ctx, target, key, hit.result));
    if (hit && restored) {
      await recordStepLogs(ctx, target, hit.result.logs);
      return done(true, hit.digest, hit.result, hit.origin);
    }
  }

  ctx.events({ type: 'target', target: target.name, state: 'running' });
  const clock = ctx.clock ?? systemClock;
  const started = clock.now();
  const workDir = await ctx.store.ownedTempDir('work');
  try {
    const spec = await stage(ctx, target, plan, deps, workDir);
    const logs = await runSteps(ctx, target, spec);
    await assertInputsUnchanged(ctx, target, plan);
    const outputs = await collectOutputs(ctx, target, workDir, spec);
    const packed = (await packerOf(ctx)).pack(outputs, { mtime: action.sourceDateEpoch });
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
    return await done(false, stored.digest, result);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Tags the artifact, remembers the build for `why`, runs the after-build hook, and reports the target done. */
async function finish(
  ctx: BuildContext,
  target: TargetConfig,
  action: Action,
  record: BuildRecord,
  got: {
    cached: boolean;
    resultDigest: Digest;
    result: ActionResult;
    origin?: RemoteOrigin | undefined;
  },
): Promise<TargetBuild> {
  const { cached, resultDigest, result, origin } = got;
  const tagged = await tagArtifact(ctx, target, result, action.sourceDateEpoch);
  await remember(ctx, target, record, { result: resultDigest, artifact: tagged.manifest.digest });
  const build: TargetBuild = {
    target: target.name,
    key: record.key,
    cached,
    resultDigest,
    result,
    ...tagged,
    sourceDateEpoch: action.sourceDateEpoch,
    ...(origin ? { origin } : {}),
  };
  await ctx.afterBuild?.({ build, action, result, cached });
  ctx.events({
    type: 'target',
    target: target.name,
    state: cached ? 'cached' : 'built',
    ...(origin ? { detail: describeOrigin(origin) } : {}),
  });
  return build;
}
