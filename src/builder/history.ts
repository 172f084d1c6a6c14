import type { TargetConfig } from '../config/index.js';
import { systemClock } from '../core/clock.js';
import type { Digest } from '../core/digest.js';
import type { BuildRecord } from './action.js';
import type { BuildContext } from './context.js';
import { gitHead } from './sde.js';

/**
 * Appends this build to the target's history (action and inputs for `why`,
 * result, artifact and source commit for lineage), unless the latest entry
 * already says the same (a no-op build writes nothing).
 */
export async function remember(
  ctx: BuildContext,
  target: TargetConfig,
  record: BuildRecord,
  built: { result: Digest; artifact: Digest },
): Promise<void> {
  if (ctx.record === false) return;
  const root = ctx.project.root;
  ctx.memo.head ??= gitHead(root);
  const sourceCommit = await ctx.memo.head;
  const last = ctx.records.lastBuild(root, target.name);
  if (
    last !== undefined &&
    last.key === record.key &&
    last.artifact === built.artifact &&
    last.sourceCommit === sourceCommit
  )
    return;
  const stored = await ctx.store.putJson(record);
  await ctx.store.syncWritesAsync(); // the history names the record, result and artifact blobs
  ctx.records.appendBuild({
    root,
    target: target.name,
    key: record.key,
    record: stored.digest,
    result: built.result,
    artifact: built.artifact,
    ...(sourceCommit !== undefined ? { sourceCommit } : {}),
    createdAt: (ctx.clock ?? systemClock).now(),
  });
}
