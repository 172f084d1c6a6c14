import { execFileSync } from 'node:child_process';

/**
 * Runs git in `dir` with a fixed test identity (author and committer), and
 * returns its output trimmed. For tests that make commits in a temporary
 * repository; nothing of the user's git identity is needed or read.
 */
export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  }).trim();
}
