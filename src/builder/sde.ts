import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TargetConfig } from '../config/index.js';
import { sourceDateEpochOf } from '../config/defaults.js';
import type { BuildContext } from './context.js';

const run = promisify(execFile);

/** Used outside git when nothing is declared: 1980-01-01, the earliest date ZIP and many tools accept. */
export const DEFAULT_SOURCE_DATE_EPOCH = 315532800;

/**
 * SOURCE_DATE_EPOCH for a set of source paths: the time of the last git commit
 * touching them; `undefined` when `root` is not in a git work tree or no commit
 * touches them.
 */
export async function gitSourceDateEpoch(
  root: string,
  pathspecs: readonly string[],
): Promise<number | undefined> {
  try {
    const { stdout } = await run(
      'git',
      ['log', '-1', '--format=%ct', '--', ...(pathspecs.length ? pathspecs : ['.'])],
      {
        cwd: root,
        env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' },
      },
    );
    const value = Number.parseInt(stdout.trim(), 10);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The current HEAD commit of the git work tree at `root`, or undefined. */
export async function gitHead(
  root: string,
  /** The repository's `.git` directory, when the caller has already found it. */
  gitDir?: string,
): Promise<string | undefined> {
  const dir = gitDir ?? (await findGitDir(root));
  if (dir === null) return undefined;
  const fast = dir === undefined ? undefined : await readHead(dir);
  if (fast) return fast;
  try {
    const { stdout } = await run('git', ['rev-parse', '--verify', '-q', 'HEAD'], { cwd: root });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

const SHA = /^[0-9a-f]{40}$/;

/**
 * The `.git` directory of the work tree `root` is in (the nearest one from
 * `root` up); undefined when git must be asked (a `.git` file: a worktree or
 * submodule; or GIT_DIR set with no `.git` found); null when there is none.
 */
export async function findGitDir(root: string): Promise<string | null | undefined> {
  let dir = resolve(root);
  for (;;) {
    const candidate = join(dir, '.git');
    const st = await stat(candidate).catch(() => undefined);
    if (st?.isDirectory()) return candidate;
    if (st) return undefined;
    const parent = dirname(dir);
    if (parent === dir) return process.env['GIT_DIR'] === undefined ? null : undefined;
    dir = parent;
  }
}

/**
 * HEAD read straight from a `.git` directory (loose or packed refs), which
 * saves spawning git on every build; undefined for anything unusual
 * (reftable, detached oddities) so the caller asks git.
 */
async function readHead(gitDir: string): Promise<string | undefined> {
  try {
    const head = (await readFile(join(gitDir, 'HEAD'), 'utf8')).trim();
    if (SHA.test(head)) return head;
    const ref = /^ref: (refs\/[^\s]+)$/.exec(head)?.[1];
    if (!ref || ref.includes('..')) return undefined;
    const loose = await readFile(join(gitDir, ref), 'utf8').catch(() => undefined);
    if (loose !== undefined) return SHA.test(loose.trim()) ? loose.trim() : undefined;
    const packed = await readFile(join(gitDir, 'packed-refs'), 'utf8').catch(() => '');
    for (const line of packed.split('\n')) {
      const [sha, name] = line.split(' ');
      if (name === ref && sha && SHA.test(sha)) return sha;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
/** SOURCE_DATE_EPOCH: declared override, else the last git commit touching the sources, else a fixed default. */
export async function sourceDateEpochFor(ctx: BuildContext, target: TargetConfig): Promise<number> {
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
