import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe } from '@parcel/watcher';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { daemonRunner } from '../src/cli/daemon-run.js';
import { buildId, runViaDaemon } from '../src/daemon/client.js';
import { socketPath } from '../src/daemon/paths.js';
import { serveDaemon, type RunningDaemon } from '../src/daemon/server.js';
import { ProjectWatcher } from '../src/daemon/watch.js';
import { CLI, runCli } from './helpers/cli.js';

/*
 * The build daemon answers a no-op from the build stamp, and skips the
 * lstat of the stamp's project paths while its watcher saw nothing change
 * since that stamp last matched in full. Each test changes one thing that
 * decides the result after the daemon has reached that state, and the next
 * build must not be answered from the stamp.
 */

const config = (step: string): string =>
  `version: 1\nname: d\nsourceDateEpoch: 1700000000\ntargets:\n  t:\n    sources: ["a.txt"]\n    toolchain: { host: [sh] }\n    steps: ["${step}"]\n    outputs: ["out/**"]\n`;

let work: string;
let project: string;
let store: string;
let env: Record<string, string>;
let watcher: ProjectWatcher;
let daemon: RunningDaemon;

/** A daemon (and its watcher) for this test's store and project, knowing nothing yet. */
async function startDaemon(): Promise<void> {
  watcher = new ProjectWatcher(project, subscribe);
  await watcher.start();
  daemon = await serveDaemon({
    socket: socketPath(store, project, env),
    store,
    project,
    idleStopMs: 600_000,
    build: buildId(),
    env,
    watcher,
    run: daemonRunner(watcher),
  });
}

beforeEach(async () => {
  work = mkdtempSync(join(tmpdir(), 'airlock-daemon-stamp-'));
  project = join(work, 'p');
  store = join(work, 'store');
  mkdirSync(project);
  writeFileSync(join(project, 'airlock.yaml'), config('mkdir -p out && cp a.txt out/a.txt'));
  writeFileSync(join(project, 'a.txt'), 'a\n');
  // Made before the daemon starts: a first build that made it would change the project
  // root while the daemon's cookies change .airlock beside it, and leave no stamp.
  mkdirSync(join(project, 'out'));
  env = {
    ...(process.env as Record<string, string>),
    XDG_RUNTIME_DIR: join(work, 'run'),
    AIRLOCK_DAEMON: '1',
    NO_COLOR: '1',
    // The stamp covers the PATH directories searched for sh: none that other tests write to.
    PATH: '/usr/bin:/bin',
  };
  delete env['CI'];
  mkdirSync(env['XDG_RUNTIME_DIR']!, { mode: 0o700 });
  await startDaemon();
});

afterEach(async () => {
  await daemon.close();
  rmSync(work, { recursive: true, force: true });
});

interface Answer {
  /** How the daemon answered: built, from the stamp checked in full, or with the watcher vouching. */
  how: 'built' | 'stamp' | 'vouched';
  actionKey: string;
  cached: boolean;
}

async function build(): Promise<Answer> {
  let stdout = '';
  let stderr = '';
  const status = await runViaDaemon(
    ['node', CLI, '--store', store, '--json', 'build', '-C', project],
    {
      cwd: project,
      env: { ...env, AIRLOCK_DAEMON_TRACE: '1' },
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
    },
    { spawnDaemon: false },
  );
  expect(status, stderr).toBe(0);
  const t = (JSON.parse(stdout) as { targets: { actionKey: string; cached: boolean }[] })
    .targets[0]!;
  const how = !stderr.includes('audit recorded')
    ? 'built'
    : stderr.includes('stamp checked outside the project')
      ? 'vouched'
      : 'stamp';
  return { how, actionKey: t.actionKey, cached: t.cached };
}

/** Builds until the daemon answers with the watcher vouching (a stamp, its full check, then vouched). */
async function untilVouched(): Promise<Answer> {
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) {
    const a = await build();
    seen.push(a.how);
    if (a.how === 'vouched') return a;
  }
  throw new Error(`never answered with the watcher vouching: ${seen.join(', ')}`);
}

describe('a no-op through the build daemon', () => {
  it('is answered from the stamp the build wrote, checked in full after that build, with the watcher vouching for the project', async () => {
    expect((await build()).how).toBe('built');
    const a = await build();
    expect(a.how).toBe('vouched');
    expect(a.cached).toBe(true);
    expect((await build()).how).toBe('vouched');
  });

  it('is answered from a stamp the daemon has not checked yet by checking it in full', async () => {
    await untilVouched();
    // A new daemon (same store and project) knows nothing of the stamp.
    await daemon.close();
    await startDaemon();
    expect((await build()).how).toBe('stamp');
    expect((await build()).how).toBe('vouched');
  });

  it('is built again once airlock.yaml changed, with the action key a --no-daemon build gives', async () => {
    const before = await untilVouched();
    writeFileSync(
      join(project, 'airlock.yaml'),
      config('mkdir -p out && cp a.txt out/a.txt && echo x >> out/a.txt'),
    );
    const after = await build();
    expect(after.how).toBe('built');
    expect(after.actionKey).not.toBe(before.actionKey);
    const reference = await runCli(
      ['--store', store, '--json', 'build', '-C', project, '--no-daemon'],
      {
        cwd: project,
      },
    );
    expect(reference.status).toBe(0);
    const ref = (JSON.parse(reference.stdout) as { targets: { actionKey: string }[] }).targets[0]!;
    expect(after.actionKey).toBe(ref.actionKey);
    expect(readFileSync(join(project, 'out', 'a.txt'), 'utf8')).toBe('a\nx\n');
  });

  it('is built again once a source changed, even with its size and times put back', async () => {
    const before = await untilVouched();
    const file = join(project, 'a.txt');
    const was = statSync(file);
    writeFileSync(file, 'b\n');
    utimesSync(file, was.atime, was.mtime);
    const after = await build();
    expect(after.how).toBe('built');
    expect(after.actionKey).not.toBe(before.actionKey);
    expect(readFileSync(join(project, 'out', 'a.txt'), 'utf8')).toBe('b\n');
  });

  it('is built again once an output was deleted', async () => {
    await untilVouched();
    rmSync(join(project, 'out'), { recursive: true });
    expect((await build()).how).toBe('built');
    expect(readFileSync(join(project, 'out', 'a.txt'), 'utf8')).toBe('a\n');
  });

  it('checks what lies outside the project every time: a store file rewritten is seen while the watcher vouches', async () => {
    await untilVouched();
    // Same bytes, a new inode and times: the stamp's signature of it no longer matches.
    const index = join(store, 'index.json');
    const text = readFileSync(index);
    rmSync(index);
    writeFileSync(index, text);
    expect((await build()).how).toBe('built');
  });

  it('stays vouched for while only .git changes (git status rewrites its index; no build reads .git)', async () => {
    mkdirSync(join(project, '.git'));
    await untilVouched();
    writeFileSync(join(project, '.git', 'index'), 'x');
    expect((await build()).how).toBe('vouched');
  });

  it('is answered from the new stamp after a change', async () => {
    await untilVouched();
    writeFileSync(join(project, 'a.txt'), 'c\n');
    expect((await build()).how).toBe('built');
    expect((await build()).how).toBe('vouched');
    expect(readFileSync(join(project, 'out', 'a.txt'), 'utf8')).toBe('c\n');
  });
});
