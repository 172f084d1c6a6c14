import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

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
export async function gitHead(root: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', ['rev-parse', '--verify', '-q', 'HEAD'], { cwd: root });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}
