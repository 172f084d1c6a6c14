import { randomBytes } from 'node:crypto';
import { copyFileSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TargetConfig } from '../config/index.js';
import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import { AirlockError, isAirlockError } from '../core/errors.js';
import { treeDigest, type TreeEntry } from '../core/tree.js';
import { hashTree } from '../hash/inputs.js';
import { assertInsideRoot, globMatcher, walkGlobs } from '../hash/walk.js';
import { treeDir } from '../store/index.js';
import type { ActionResult } from './action.js';
import type { BuildContext } from './context.js';
import { exists } from './fs.js';
import { isVcsPath } from './output-guard.js';

/** Restores a hit's outputs; a corrupt blob met on the way drops the entry so the target rebuilds. */
export async function restoreOrForget(
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

/** True when something (even a dangling symlink) is at `path`: one blocking lstat, no thread-pool round trip. */
function existsNow(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
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
  const dest = treeDir(ctx.store.paths, result.outputs.tree);
  // A tree this build just made from the files it packed holds those bytes: no hashing again.
  const present = existsNow(dest);
  if (present && ctx.memo.adoptedTrees?.has(result.outputs.tree) === true) return dest;
  if (present) {
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
export async function materialize(
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
  const walk = await walkGlobs(root, target.outputs, [], ctx.fsHint);
  const mine = walk.matched.filter(
    (e) => !isVcsPath(e.path) && (want.has(e.path) || !others(e.path)),
  );
  const have = await hashTree(root, mine, ctx.statCache, undefined, undefined, ctx.fsHint);
  if (treeDigest(have) === result.outputs.tree) return;
  await ctx.beforeProjectWrite?.();
  const src = await ensureTree(ctx, result);
  for (const e of have) if (!want.has(e.path)) rmSync(join(root, e.path), { force: true });
  const current = new Map(have.map((e) => [e.path, e]));
  const madeDirs = new Set<string>();
  const made = new Set<string>();
  // Blocking calls for small files: one thread-pool round trip per mkdir/copy/chmod
  // costs more than the work itself. A large file is copied in the thread pool, while
  // the main thread goes on with other targets (hashing their inputs, say).
  const copies: Promise<void>[] = [];
  for (const e of [...want.values()].sort((a, b) => compareBytes(a.path, b.path))) {
    const prev = current.get(e.path);
    if (prev && JSON.stringify(prev) === JSON.stringify(e)) continue;
    const to = join(root, e.path);
    const dir = dirname(to);
    if (!madeDirs.has(dir)) {
      assertInsideRoot(root, dirname(e.path));
      const first = mkdirSync(dir, { recursive: true });
      madeDirs.add(dir);
      // Directories made just now hold only what this loop puts there.
      if (first !== undefined) for (let d = dir; d !== dirname(first); d = dirname(d)) made.add(d);
    }
    // Nothing is ever written through what was there (a symlink, a FIFO): it goes first.
    if (!made.has(dir)) rmSync(to, { force: true });
    // A copy gets its source's mode exactly (libuv sets it, whatever the umask), and every
    // file of `src` is 0644 or 0755 as `e` says: checked by ensureTree, or set by
    // extraction or adoptTree.
    if (e.kind === 'symlink') symlinkSync(e.target, to);
    else if (e.size >= POOL_COPY_BYTES) copies.push(copyFile(join(src, e.path), to));
    else copyFileSync(join(src, e.path), to);
  }
  // Every copy ends before this returns, failed or not; the first failure is thrown.
  const failed = (await Promise.allSettled(copies)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Files at least this large are copied into the project in the thread pool. */
const POOL_COPY_BYTES = 64 * 1024;
