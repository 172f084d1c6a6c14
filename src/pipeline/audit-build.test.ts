import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitState, plainOriginUrl, startGitState, type GitRunner } from './git-state.js';
import { git as gitIn } from '../../test/helpers/git.js';

describe('plainOriginUrl (remote.origin.url read from a git config text)', () => {
  it('reads the url of [remote "origin"], the last one winning, comments stripped', () => {
    const text =
      '[core]\n\tbare = false\n[remote "upstream"]\n\turl = https://u.example/x.git\n' +
      '[remote "origin"]\n\turl = https://a.example/old.git\n\tURL = https://a.example/shop.git ; moved\n' +
      '\tfetch = +refs/heads/*:refs/remotes/origin/*\n';
    expect(plainOriginUrl(text)).toBe('https://a.example/shop.git');
  });

  it('is null for a config without an origin', () => {
    expect(plainOriginUrl('[core]\n\tbare = false\n[remote "Origin"]\n\turl = x\n')).toBeNull();
  });

  it.each([
    ['an include', '[include]\n\tpath = other.config\n[remote "origin"]\n\turl = x\n'],
    ['an includeIf', '[includeIf "gitdir:~/w/"]\n\tpath = w\n'],
    ['a quoted url', '[remote "origin"]\n\turl = "x y"\n'],
    ['a continued line', '[remote "origin"]\n\turl = https://a/\\\nb\n'],
    ['the old [remote.origin] form', '[remote.origin]\n\turl = x\n'],
    ['a url without a value', '[remote "origin"]\n\turl\n'],
  ])('leaves %s to git (undefined)', (_name, text) => {
    expect(plainOriginUrl(text)).toBeUndefined();
  });
});

describe('gitState (the source state a build event records)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-git-state-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]): string => gitIn(dir, ...args);
  /** The real git, with every call noted. */
  const counting = (): { runner: GitRunner; calls: string[][] } => {
    const calls: string[][] = [];
    return {
      calls,
      runner: (root, args) => {
        calls.push([...args]);
        try {
          return Promise.resolve(execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }));
        } catch {
          return Promise.resolve(undefined);
        }
      },
    };
  };

  it('asks git nothing outside a work tree', async () => {
    const { runner, calls } = counting();
    expect(await gitState(tmpdir(), runner)).toEqual({});
    expect(calls).toEqual([]);
  });

  it('runs git once (status) in a plain repository: HEAD and origin come from .git', async () => {
    git('init', '-q', '-b', 'main');
    git('remote', 'add', 'origin', 'https://example.com/shop.git');
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    git('add', 'a.txt');
    git('commit', '-q', '-m', 'one');
    git('pack-refs', '--all'); // HEAD's branch from packed-refs, not a loose ref
    const { runner, calls } = counting();
    expect(await gitState(dir, runner)).toEqual({
      commit: git('rev-parse', 'HEAD'),
      repository: 'https://example.com/shop.git',
      dirty: false,
    });
    expect(calls).toEqual([['status', '--porcelain', '--untracked-files=normal']]);
  });

  it('sees a dirty work tree, and asks git for the origin when the config includes another file', async () => {
    writeFileSync(join(dir, 'b.txt'), 'untracked\n');
    writeFileSync(join(dir, 'extra.config'), '');
    appendFileSync(join(dir, '.git', 'config'), '[include]\n\tpath = ../extra.config\n');
    const { runner, calls } = counting();
    expect(await gitState(dir, runner)).toMatchObject({
      repository: 'https://example.com/shop.git',
      dirty: true,
    });
    expect(calls.map((c) => c[0]).sort()).toEqual(['config', 'status']);
  });

  it('started ahead (startGitState), reads what gitState reads, its git status already running when it returns', async () => {
    const started = startGitState(dir);
    // Still this process's child (running, or exited and not yet reaped by the event loop).
    expect(
      execFileSync('pgrep', ['-P', String(process.pid), '-x', 'git'], { encoding: 'utf8' }),
    ).toMatch(/^\d+\n/);
    expect(await started.state).toEqual(await gitState(dir));
    expect((await started.state).dirty).toBe(true);
  });

  it('started ahead and stopped, reports no dirty flag it did not read', async () => {
    const started = startGitState(dir);
    started.stop();
    const state = await started.state;
    expect(state.commit).toBe(git('rev-parse', 'HEAD'));
    expect(state).not.toHaveProperty('dirty');
  });
});
