import { accessSync, constants as fsConstants, realpathSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { TargetConfig } from '../config/index.js';
import type { TreeEntry } from '../core/tree.js';
import { SANDBOX_PROFILE } from '../sandbox/profile.js';
import type { SandboxSpec } from '../sandbox/types.js';
import { sourceRootOf, type BuildContext, type TargetBuild } from './context.js';
import type { ActionPlan } from './plan.js';
import { ensureTree } from './restore.js';
import { planInputBinds } from './staging.js';

/** The sandbox spec of a target's steps plus what was staged (never counted as an output). */
export type StagedSpec = Omit<SandboxSpec, 'command'> & {
  staged: Set<string>;
  stagedDirs: string[];
};

/** The sandbox spec shared by every step of a target: binds, tools, env. */
export async function stage(
  ctx: BuildContext,
  target: TargetConfig,
  plan: ActionPlan,
  deps: ReadonlyMap<string, TargetBuild>,
  workDir: string,
): Promise<StagedSpec> {
  const root = sourceRootOf(ctx);
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
    // The npm install's directories too: a source directory they are bound inside is bound file by file.
    outputs: [...ctx.project.targets.values()].flatMap((t) => t.outputs).concat(npmDests(plan)),
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
    const dir = await plan.npm.ready();
    for (const b of plan.npm.binds ?? ['']) {
      const dest = b === '' ? plan.npm.dest : posix.join(plan.npm.dest, b);
      inputs.push({ source: b === '' ? dir : join(dir, ...b.split('/')), dest });
      stagedDirs.push(dest);
    }
  }
  // A launcher's package, at its own host path, so the files beside the launcher are found.
  for (const t of plan.tools)
    if (t.package && !inputs.some((i) => i.dest === t.package!.dir))
      inputs.push({ source: t.package.dir, dest: t.package.dir });
  for (const f of plan.placed) {
    inputs.push({ source: f.source, dest: f.dest });
    if (f.dir) stagedDirs.push(f.dest);
    else staged.add(f.dest);
  }
  return {
    workDir,
    inputs,
    // A tool the sandbox's own PATH already finds as the very binary that was
    // hashed runs from /usr, where drivers such as gcc find their helpers (cc1,
    // as). Any other (outside /usr, or shadowed on the sandbox PATH by another
    // binary) is bound at the front of PATH, so the step runs what the key pins.
    tools: plan.tools
      .filter((t) => t.package !== undefined || sandboxPathResolves(t.name) !== t.path)
      .map((t) => ({ name: t.name, path: t.path, ...(t.package ? { link: true } : {}) })),
    env: target.env,
    sourceDateEpoch: plan.action.sourceDateEpoch,
    ...(plan.rootfs !== undefined ? { rootfs: plan.rootfs } : {}),
    ...(ctx.variant ? { variant: ctx.variant } : {}),
    staged,
    stagedDirs,
  };
}

/** Where the offline npm install's directories are bound, relative to the work directory. */
function npmDests(plan: ActionPlan): string[] {
  if (!plan.npm) return [];
  const { dest, binds } = plan.npm;
  return (binds ?? ['']).map((b) => (b === '' ? dest : posix.join(dest, b)));
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
