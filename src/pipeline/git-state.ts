import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findGitDir, gitHead } from '../builder/sde.js';

/*
 * The git state a build event records. Apart from audit-build.ts so that the
 * build stamp's fast path can start \`git status\` before it checks the stamp.
 */

const run = promisify(execFile);

/** The git facts a build event records: remote, HEAD and whether the work tree was dirty. */
export interface GitState {
  repository?: string;
  commit?: string;
  dirty?: boolean;
}

/** Runs `git -C root <args>`: its stdout, or undefined when git fails or is missing. */
export type GitRunner = (root: string, args: readonly string[]) => Promise<string | undefined>;

const runGit = async (
  root: string,
  args: readonly string[],
  signal?: AbortSignal,
): Promise<string | undefined> => {
  try {
    const { stdout } = await run('git', ['-C', root, ...args], {
      timeout: 30_000,
      maxBuffer: 1 << 26,
      ...(signal ? { signal } : {}),
    });
    return stdout;
  } catch {
    return undefined;
  }
};

/** How gitState asks whether the work tree is dirty. */
const STATUS_ARGS: readonly string[] = ['status', '--porcelain', '--untracked-files=normal'];

/**
 * Reads the git state of `root` (nothing outside a git work tree) with one
 * `git status`: HEAD and the origin URL are read from `.git` directly in a
 * plain repository; git answers them only for anything unusual (a worktree
 * or submodule, reftable, a config with includes).
 */
export async function gitState(root: string, git: GitRunner = runGit): Promise<GitState> {
  const dir = await gitDirOf(root);
  if (dir === null) return {}; // not a work tree: git is not asked at all
  const [commit, repository, status] = await Promise.all([
    dir === undefined
      ? git(root, ['rev-parse', '--verify', '-q', 'HEAD']).then((s) => s?.trim())
      : gitHead(root, dir),
    originUrl(root, dir, git),
    git(root, STATUS_ARGS),
  ]);
  if (!commit) return {};
  return {
    commit,
    ...(repository ? { repository } : {}),
    ...(status !== undefined ? { dirty: status.trim() !== '' } : {}),
  };
}

/**
 * gitState of `root`, with its `git status` process started before this
 * returns, so that it runs while the caller goes on (the build stamp's fast
 * path checks the stamp meanwhile); `stop` ends that process when the
 * answer is not wanted after all. The state is the one gitState reads: any
 * other git command it needs runs as usual.
 */
export function startGitState(root: string): { state: Promise<GitState>; stop: () => void } {
  const controller = new AbortController();
  const status = runGit(root, STATUS_ARGS, controller.signal);
  const git: GitRunner = (r, args) =>
    r === root && args.length === STATUS_ARGS.length && args.every((a, i) => a === STATUS_ARGS[i])
      ? status
      : runGit(r, args);
  const state = gitState(root, git);
  // Never an unhandled rejection when the caller stops and never asks.
  state.catch(() => {});
  return { state, stop: () => controller.abort() };
}

/**
 * The `.git` directory of `root` as `findGitDir` finds it, except that git
 * is asked whenever GIT_DIR or GIT_CONFIG* is set (they change what git reads).
 */
async function gitDirOf(root: string): Promise<string | null | undefined> {
  if (Object.keys(process.env).some((k) => k === 'GIT_DIR' || k.startsWith('GIT_CONFIG')))
    return undefined;
  return findGitDir(root);
}

/** remote.origin.url from `<gitDir>/config` when it is plain; otherwise (or without a git dir) git's answer. */
async function originUrl(
  root: string,
  gitDir: string | undefined,
  git: GitRunner,
): Promise<string | undefined> {
  const text = gitDir ? await readFile(join(gitDir, 'config'), 'utf8').catch(() => '') : undefined;
  const plain = text === undefined ? undefined : plainOriginUrl(text);
  if (plain !== undefined) return plain ?? undefined;
  return (await git(root, ['config', '--get', 'remote.origin.url']))?.trim() || undefined;
}

/**
 * remote.origin.url of a git config text (the last one wins, as with
 * `git config --get`); null when it has none; undefined when the text has
 * anything this reader does not follow (includes, the old `[remote.origin]`
 * form, quoted or escaped values, continued lines), so git is asked instead.
 */
export function plainOriginUrl(text: string): string | null | undefined {
  if (/\\\s*$/m.test(text)) return undefined;
  let inOrigin = false;
  let url: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const m = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"([^"\\]*)")?\s*\]\s*(?:[#;].*)?$/.exec(line);
      if (!m) return undefined;
      const name = m[1]!.toLowerCase();
      if (name === 'include' || name === 'includeif' || name.includes('.')) return undefined;
      inOrigin = name === 'remote' && m[2] === 'origin';
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=(.*))?$/.exec(line);
    if (!kv) return undefined;
    if (!inOrigin || kv[1]!.toLowerCase() !== 'url') continue;
    const value = kv[2];
    if (value === undefined || /["\\]/.test(value)) return undefined;
    url = value.replace(/[#;].*$/, '').trim();
  }
  return url;
}
