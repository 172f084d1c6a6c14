import type { TargetConfig } from '../config/index.js';
import type { BuildRecord } from './action.js';
import type { BuildContext } from './context.js';

/** Keeps this build's action and inputs so `airlock why` can explain the next miss. */
export async function remember(
  ctx: BuildContext,
  target: TargetConfig,
  record: BuildRecord,
): Promise<void> {
  if (ctx.record === false) return;
  if (ctx.records.lastBuild(ctx.project.root, target.name)?.key === record.key) return;
  const stored = await ctx.store.putJson(record);
  ctx.records.setLastBuild(ctx.project.root, target.name, record.key, stored.digest);
}
