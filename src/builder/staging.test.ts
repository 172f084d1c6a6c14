import { describe, expect, it } from 'vitest';
import { sha256 } from '../core/digest.js';
import type { TreeEntry } from '../core/tree.js';
import { diffBuilds, type Action, type BuildRecord } from './action.js';
import { describeDifference, diffTrees } from './compare.js';
import { planInputBinds } from './staging.js';

describe('planInputBinds', () => {
  it('binds a directory whole when everything in it is declared and no output can land in it', () => {
    const binds = planInputBinds({
      inputs: ['src/a.js', 'src/b.js', 'src/deep/c.js', 'package.json'],
      all: ['src/a.js', 'src/b.js', 'src/deep/c.js', 'package.json', 'README.md'],
      dirs: ['', 'src', 'src/deep'],
      pruned: [],
      outputs: ['dist/**'],
    });
    expect(binds).toEqual([
      { path: 'src', dir: true },
      { path: 'package.json', dir: false },
    ]);
  });

  it('binds file by file where an undeclared file sits beside the inputs', () => {
    const binds = planInputBinds({
      inputs: ['src/a.js'],
      all: ['src/a.js', 'src/secret.txt'],
      dirs: ['src'],
      pruned: [],
      outputs: ['dist/**'],
    });
    expect(binds).toEqual([{ path: 'src/a.js', dir: false }]);
  });

  it('never binds a directory an output glob may write into, nor its ancestors', () => {
    const binds = planInputBinds({
      inputs: ['web/a.js', 'web/lib/b.js'],
      all: ['web/a.js', 'web/lib/b.js'],
      dirs: ['web', 'web/lib'],
      pruned: [],
      outputs: ['web/dist/**'],
    });
    expect(binds).toEqual([
      { path: 'web/lib', dir: true },
      { path: 'web/a.js', dir: false },
    ]);
  });

  it('does not bind a directory with an unwalked subdirectory', () => {
    const binds = planInputBinds({
      inputs: ['c/x.c'],
      all: ['c/x.c'],
      dirs: ['c'],
      pruned: ['c/sub'],
      outputs: ['out/**'],
    });
    expect(binds).toEqual([{ path: 'c/x.c', dir: false }]);
  });
});

describe('diffTrees', () => {
  const f = (path: string, content: string, executable = false): TreeEntry => ({
    path,
    kind: 'file',
    executable,
    digest: sha256(content),
    size: content.length,
  });

  it('lists added, removed and changed paths in byte order', () => {
    const d = diffTrees(
      [f('b', '1'), f('a', 'x'), f('gone', '')],
      [f('a', 'y'), f('b', '1', true), f('new', '')],
    );
    expect(d.map((x) => [x.path, x.a !== undefined, x.b !== undefined])).toEqual([
      ['a', true, true],
      ['b', true, true],
      ['gone', true, false],
      ['new', false, true],
    ]);
  });
});

describe('describeDifference', () => {
  it('shows the differing lines of text with their numbers', () => {
    const out = describeDifference(
      Buffer.from('same\nbuilt at 1\nend\n'),
      Buffer.from('same\nbuilt at 2\nend\n'),
    );
    expect(out).toBe('-2: built at 1\n+2: built at 2');
  });

  it('shows a hex window around the first differing byte of binary files', () => {
    const a = Buffer.alloc(64, 0);
    const b = Buffer.from(a);
    b[40] = 0xff;
    const out = describeDifference(a, b);
    expect(out).toContain('first difference at byte 40');
    expect(out).toContain('+ 00000020  00 00 00 00 00 00 00 00 ff');
  });
});

describe('diffBuilds', () => {
  const action = (inputs: string, steps: string[]): Action => ({
    format: 'airlock.action/v1',
    toolchain: [],
    inputs: sha256(inputs),
    deps: [],
    steps,
    env: {},
    outputs: ['dist/**'],
    sourceDateEpoch: 1,
    platform: { os: 'linux', arch: 'x64' },
    sandbox: sha256('profile'),
  });
  const record = (content: string, steps: string[]): BuildRecord => ({
    format: 'airlock.build-record/v1',
    target: 't',
    key: sha256(content + steps.join()),
    action: action(content, steps),
    inputs: [
      { path: 'src/a.js', kind: 'file', executable: false, digest: sha256(content), size: 1 },
    ],
    blobs: [],
  });

  it('names the changed file with both digests and the changed step', () => {
    const changes = diffBuilds(record('1', ['make']), record('2', ['make all']));
    expect(changes).toEqual([
      {
        component: 'inputs',
        detail: 'input changed',
        path: 'src/a.js',
        old: sha256('1'),
        new: sha256('2'),
      },
      { component: 'steps', detail: 'steps entry removed', old: 'make' },
      { component: 'steps', detail: 'steps entry added', new: 'make all' },
    ]);
  });
});

describe('planInputBinds with a symlink beside the inputs', () => {
  it('binds the files one by one so the symlink stays unseen', () => {
    const binds = planInputBinds({
      inputs: ['src/a.js'],
      all: ['src/a.js', 'src/link-to-etc'],
      dirs: ['src'],
      pruned: [],
      outputs: ['dist/**'],
    });
    expect(binds).toEqual([{ path: 'src/a.js', dir: false }]);
  });
});
