import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitHead, gitSourceDateEpoch } from './sde.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-sde-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const git = (...args: string[]): string =>
  execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_DATE: '@1600000000 +0000',
      GIT_COMMITTER_DATE: '@1600000000 +0000',
    },
  }).trim();

describe('git facts for SOURCE_DATE_EPOCH', () => {
  git('init', '-q');
  git('config', 'user.email', 't@example.com');
  git('config', 'user.name', 't');
  writeFileSync(join(dir, 'a.txt'), 'a');
  git('add', '.');
  git('commit', '-qm', 'one');

  it('reads HEAD like git does, with loose and with packed refs', async () => {
    const expected = git('rev-parse', 'HEAD');
    expect(await gitHead(dir)).toBe(expected);
    git('pack-refs', '--all');
    expect(await gitHead(dir)).toBe(expected);
  });

  it('takes the commit time of the last commit touching the pathspecs', async () => {
    expect(await gitSourceDateEpoch(dir, [':(glob)*.txt'])).toBe(1600000000);
    expect(await gitSourceDateEpoch(dir, [':(glob)nothing/**'])).toBeUndefined();
  });

  it('is undefined outside a repository', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'airlock-nogit-'));
    try {
      expect(await gitSourceDateEpoch(outside, ['.'])).toBeUndefined();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
