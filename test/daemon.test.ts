import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../src/core/errors.js';
import { daemonTarget, runViaDaemon } from '../src/daemon/client.js';
import { daemonDir, socketPath } from '../src/daemon/paths.js';
import { serveDaemon } from '../src/daemon/server.js';
import { CLI } from './helpers/cli.js';

let work: string;
let env: Record<string, string>;
let project: string;
let store: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'airlock-daemon-'));
  project = join(work, 'p');
  store = join(work, 'store');
  mkdirSync(project);
  writeFileSync(
    join(project, 'airlock.yaml'),
    'version: 1\nname: d\nsourceDateEpoch: 1700000000\ntargets:\n  t:\n    sources: ["a.txt"]\n    toolchain: { host: [sh] }\n    steps: ["mkdir -p out && cp a.txt out/a.txt"]\n    outputs: ["out/**"]\n',
  );
  writeFileSync(join(project, 'a.txt'), 'a\n');
  env = {
    ...(process.env as Record<string, string>),
    XDG_RUNTIME_DIR: join(work, 'run'),
    AIRLOCK_DAEMON: '1',
    NO_COLOR: '1',
  };
  delete env['CI'];
  mkdirSync(env['XDG_RUNTIME_DIR']!, { mode: 0o700 });
});

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const argv = (...more: string[]): string[] => [
  'node',
  CLI,
  '--store',
  store,
  '--json',
  'build',
  '-C',
  project,
  ...more,
];

function capture(): {
  io: Parameters<typeof runViaDaemon>[1];
  out: () => string;
  err: () => string;
} {
  let out = '';
  let err = '';
  return {
    io: {
      cwd: project,
      env,
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
    },
    out: () => out,
    err: () => err,
  };
}

/** A daemon in this worker whose runs answer "ran <argv>" with exit status 3. */
function fakeDaemon(build = 'this-build') {
  return serveDaemon({
    socket: socketPath(store, project, env),
    store,
    project,
    idleStopMs: 60_000,
    build,
    env,
    run: (r) => {
      r.stdout.write(`ran ${r.argv.slice(2).join(' ')} in ${r.cwd}\n`);
      r.stderr.write(`AIRLOCK_DAEMON=${r.env['AIRLOCK_DAEMON']}\n`);
      return Promise.resolve(3);
    },
  });
}

describe('which runs the client sends to a daemon', () => {
  it('sends `build` only, by default outside CI, never with AIRLOCK_DAEMON=0, --no-daemon, --sign or --help', () => {
    expect(daemonTarget(argv(), project, env)).toMatchObject({ store, project });
    expect(daemonTarget(['node', CLI, 'check'], project, env)).toBeUndefined();
    expect(daemonTarget(argv('--no-daemon'), project, env)).toBeUndefined();
    expect(daemonTarget(argv('--sign'), project, env)).toBeUndefined();
    expect(daemonTarget(argv('--help'), project, env)).toBeUndefined();
    expect(daemonTarget(argv(), project, { ...env, AIRLOCK_DAEMON: '0' })).toBeUndefined();
    expect(daemonTarget(argv(), project, { ...env, AIRLOCK_DAEMON: 'false' })).toBeUndefined();
    // On by default: without AIRLOCK_DAEMON a build outside CI goes to the daemon.
    const plain: Record<string, string> = { ...env };
    delete plain['AIRLOCK_DAEMON'];
    delete plain['CI'];
    expect(daemonTarget(argv(), project, plain)).toMatchObject({ store, project });
    expect(daemonTarget(argv(), project, { ...plain, CI: 'false' })).toMatchObject({ store });
    // In CI only when asked for.
    expect(daemonTarget(argv(), project, { ...plain, CI: 'true' })).toBeUndefined();
    expect(daemonTarget(argv(), project, { ...plain, CI: '1', AIRLOCK_DAEMON: '1' })).toMatchObject(
      {
        store,
      },
    );
  });

  it('keeps one daemon per store, project and environment', () => {
    const a = socketPath(store, project, env);
    expect(socketPath(store, project, { ...env, PWD: '/elsewhere', OLDPWD: '/x' })).toBe(a);
    expect(socketPath(store, project, { ...env, SECRET_TOKEN: 'other caller' })).not.toBe(a);
    expect(socketPath(join(work, 'other-store'), project, env)).not.toBe(a);
    expect(socketPath(store, join(work, 'q'), env)).not.toBe(a);
    expect(
      daemonTarget(['node', CLI, `--store=${store}`, 'build', `-C${project}`], work, env)?.socket,
    ).toBe(a);
  });
});

describe('the daemon socket', () => {
  it('lives in a 0700 directory of this user, the socket itself 0600', async () => {
    const d = await fakeDaemon();
    try {
      const dir = statSync(daemonDir(env));
      expect(dir.mode & 0o777).toBe(0o700);
      expect(dir.uid).toBe(process.getuid!());
      expect(statSync(socketPath(store, project, env)).mode & 0o777).toBe(0o600);
    } finally {
      await d.close();
    }
    expect(existsSync(socketPath(store, project, env))).toBe(false);
  });

  it('serves a run: output streamed back, exit status returned, the client environment passed', async () => {
    const d = await fakeDaemon();
    try {
      const c = capture();
      const code = await runViaDaemon(argv(), c.io, { spawnDaemon: false, build: 'this-build' });
      expect(code).toBe(3);
      expect(c.out()).toBe(`ran --store ${store} --json build -C ${project} in ${project}\n`);
      expect(c.err()).toBe('AIRLOCK_DAEMON=1\n');
    } finally {
      await d.close();
    }
  });

  it('is refused in a directory others can use: the daemon does not start, the client builds in-process', async () => {
    chmodSync(env['XDG_RUNTIME_DIR']!, 0o755);
    mkdirSync(daemonDir(env), { mode: 0o755 });
    chmodSync(daemonDir(env), 0o755);
    await expect(fakeDaemon()).rejects.toMatchObject({ code: 'DAEMON_UNSAFE_DIR' });
    const c = capture();
    expect(await runViaDaemon(argv(), c.io, { spawnDaemon: false })).toBeUndefined();
    expect(c.err()).toMatch(/not using the build daemon: .* has mode 755/);
  });

  it('is refused behind a symlink (someone else may own where it points)', async () => {
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o700 });
    symlinkSync(elsewhere, daemonDir(env));
    await expect(fakeDaemon()).rejects.toBeInstanceOf(AirlockError);
    const c = capture();
    expect(await runViaDaemon(argv(), c.io, { spawnDaemon: false })).toBeUndefined();
    expect(c.err()).toMatch(/is not a directory/);
  });

  it('refuses a client of another Airlock build, which builds in-process; the stale daemon stops', async () => {
    const d = await fakeDaemon('old-build');
    const c = capture();
    expect(
      await runViaDaemon(argv(), c.io, { spawnDaemon: false, build: 'new-build' }),
    ).toBeUndefined();
    expect(c.out()).toBe('');
    await d.stopped;
    expect(existsSync(socketPath(store, project, env))).toBe(false);
  });

  it('refuses to start a second daemon on a live socket', async () => {
    const d = await fakeDaemon();
    try {
      await expect(fakeDaemon()).rejects.toMatchObject({ code: 'DAEMON_RUNNING' });
    } finally {
      await d.close();
    }
  });
});

/** Spawns the real `airlock daemon start` and waits for its socket. */
async function realDaemon(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, '--store', store, 'daemon', 'start', '-C', project], {
    cwd: project,
    env,
    stdio: 'ignore',
  });
  children.push(child);
  const sock = socketPath(store, project, env);
  for (let i = 0; i < 500 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
  expect(existsSync(sock)).toBe(true);
  return child;
}

function cli(...args: string[]): { status: number | null; json: Record<string, unknown> } {
  const r = spawnSync(process.execPath, [CLI, '--store', store, ...args, '--json'], {
    cwd: project,
    env,
    encoding: 'utf8',
  });
  return { status: r.status, json: JSON.parse(r.stdout) as Record<string, unknown> };
}

describe('airlock daemon (the real process)', () => {
  it('status reports it; stop ends it and removes its socket', async () => {
    const child = await realDaemon();
    const status = cli('daemon', 'status', '-C', project);
    expect(status).toMatchObject({ status: 0, json: { ok: true, running: true, project, store } });
    expect((status.json['watcher'] as { healthy: boolean }).healthy).toBe(true);
    const exited = new Promise((r) => child.once('exit', r));
    expect(cli('daemon', 'stop', '-C', project)).toMatchObject({
      status: 0,
      json: { stopped: true },
    });
    await exited;
    expect(existsSync(socketPath(store, project, env))).toBe(false);
    expect(cli('daemon', 'status', '-C', project).json).toMatchObject({ running: false });
  });

  it('killed, leaves a socket nobody answers: builds run in-process, and a new daemon takes the socket over', async () => {
    const child = await realDaemon();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const sock = socketPath(store, project, env);
    expect(existsSync(sock)).toBe(true);
    const c = capture();
    expect(await runViaDaemon(argv(), c.io, { spawnDaemon: false })).toBeUndefined();
    expect(cli('daemon', 'status', '-C', project).json).toMatchObject({ running: false });
    const d = await fakeDaemon();
    await d.close();
  });

  it('builds through the daemon from bin/airlock.js, and in-process with --no-daemon', async () => {
    await realDaemon();
    const run = (...more: string[]) =>
      spawnSync(
        process.execPath,
        [CLI, '--store', store, '--json', 'build', '-C', project, ...more],
        {
          cwd: project,
          env,
          encoding: 'utf8',
        },
      );
    const via = run();
    expect(via.status, via.stderr).toBe(0);
    const local = run('--no-daemon');
    expect(local.status, local.stderr).toBe(0);
    const key = (s: string) =>
      (JSON.parse(s) as { targets: { actionKey: string }[] }).targets[0]!.actionKey;
    expect(key(via.stdout)).toBe(key(local.stdout));
    const status = cli('daemon', 'status', '-C', project).json;
    expect(status['runs']).toBe(1);
  });

  it('is started on demand by a build outside CI: the next build goes through it; AIRLOCK_DAEMON=0 and --no-daemon stay in-process', async () => {
    const plain: Record<string, string> = { ...env };
    delete plain['AIRLOCK_DAEMON'];
    const run = (e: Record<string, string>, ...more: string[]) =>
      spawnSync(process.execPath, [CLI, '--store', store, '--json', ...more, '-C', project], {
        cwd: project,
        env: e,
        encoding: 'utf8',
      });
    const sock = socketPath(store, project, plain);
    try {
      // Switched off: no daemon is started.
      expect(run({ ...plain, AIRLOCK_DAEMON: '0' }, 'build').status).toBe(0);
      expect(run(plain, 'build', '--no-daemon').status).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      const sockets = (): string[] =>
        existsSync(daemonDir(plain)) ? readdirSync(daemonDir(plain)) : [];
      expect(sockets().filter((f) => f.endsWith('.sock'))).toEqual([]);
      // The first build runs in-process and starts one in the background.
      const first = run(plain, 'build');
      expect(first.status, first.stderr).toBe(0);
      for (let i = 0; i < 1500 && !existsSync(sock); i++)
        await new Promise((r) => setTimeout(r, 20));
      const second = run(plain, 'build');
      expect(second.status, second.stderr).toBe(0);
      const status = JSON.parse(run(plain, 'daemon', 'status').stdout) as Record<string, unknown>;
      expect(status).toMatchObject({ running: true, runs: 1 });
    } finally {
      run(plain, 'daemon', 'stop');
    }
    expect(existsSync(sock)).toBe(false);
  });
});

describe('a daemon whose project or store is removed', () => {
  it.each(['project', 'store'] as const)(
    'stops by itself once its %s directory is gone, and removes its socket',
    async (which) => {
      mkdirSync(store, { recursive: true });
      const d = await serveDaemon({
        socket: socketPath(store, project, env),
        store,
        project,
        idleStopMs: 600_000,
        goneCheckMs: 20,
        build: 'this-build',
        env,
        run: () => Promise.resolve(0),
      });
      let stopped = false;
      void d.stopped.then(() => (stopped = true));
      // Both directories exist: it keeps running.
      await new Promise((r) => setTimeout(r, 200));
      expect(stopped).toBe(false);
      rmSync(which === 'project' ? project : store, { recursive: true, force: true });
      await d.stopped;
      expect(existsSync(socketPath(store, project, env))).toBe(false);
    },
  );
});

describe('an idle daemon', () => {
  it('stops by itself and removes its socket', async () => {
    const d = await serveDaemon({
      socket: socketPath(store, project, env),
      store,
      project,
      idleStopMs: 50,
      build: 'this-build',
      env,
      run: () => Promise.resolve(0),
    });
    await d.stopped;
    expect(existsSync(socketPath(store, project, env))).toBe(false);
  });
});
