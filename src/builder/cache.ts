import type { TargetConfig } from '../config/index.js';
import type { Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import { treeDigest } from '../core/tree.js';
import { hashTree } from '../hash/inputs.js';
import { RESULT_FORMAT, type ActionResult } from './action.js';
import { describeOrigin, type BuildContext, type RemoteOrigin } from './context.js';
import { outputViolations } from './output-guard.js';

/**
 * The cached result for `key` (local action cache first, then the remote
 * cache), verified down to its layer and allowed to write only the target's
 * declared outputs; anything corrupt or out of bounds means a rebuild. A
 * remote result enters the local action cache only once it passed every check.
 */
export async function cachedResult(
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
