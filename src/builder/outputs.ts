import { randomBytes } from 'node:crypto';
import { lstatSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PackEntry } from '../archive/pack.js';
import type { TargetConfig } from '../config/index.js';
import { AirlockError } from '../core/errors.js';
import { globMatcher, walkGlobs } from '../hash/walk.js';
import { treeDir } from '../store/index.js';
import type { ActionResult } from './action.js';
import type { BuildContext } from './context.js';
import type { BuildErrorCode } from './errors.js';
import { exists } from './fs.js';
import { isVcsPath } from './output-guard.js';

/** The files the steps wrote that match the output globs; staged inputs never count. */
export async function collectOutputs(
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

/**
 * Moves freshly built outputs into the extracted-tree cache (used to stage
 * dependents), every file 0644 or 0755 and every directory 0755: whatever
 * mode the step gave a file (setuid, world-writable) stays out of the store.
 */
export async function adoptTree(
  ctx: BuildContext,
  workDir: string,
  result: ActionResult,
): Promise<void> {
  const dest = treeDir(ctx.store.paths, result.outputs.tree);
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
    const moved = await rename(tmp, dest).then(
      () => true,
      async (err: unknown) => {
        if (!(await exists(dest))) throw err;
        return false; // another build put it there first: verified when used, as any tree
      },
    );
    if (moved) (ctx.memo.adoptedTrees ??= new Set()).add(result.outputs.tree);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
