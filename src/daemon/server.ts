import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { AirlockError } from '../core/errors.js';
import { ensureDaemonDir, envKey } from './paths.js';
import {
  readMessages,
  send,
  type ClientMessage,
  type DaemonStatus,
  type Phases,
  type TerminalShape,
} from './protocol.js';
import type { BuildHint, ProjectWatcher } from './watch.js';

/** One run a client asked for, as the daemon hands it to the CLI. */
export interface DaemonRun {
  argv: string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  stdout: { write(text: string): unknown; isTTY: boolean; columns?: number | undefined };
  stderr: { write(text: string): unknown; isTTY: boolean; columns?: number | undefined };
  /** Aborted when the client forwards Ctrl-C or goes away. */
  signal: AbortSignal;
  /** The watcher's hint for a build of `project` (undefined: read everything). */
  buildHint: (project: string) => Promise<BuildHint | undefined>;
  /** Ends a phase of the run's time (the client asked for a trace: it gets the time of each). */
  phase: (name: string) => void;
}

export interface DaemonOptions {
  socket: string;
  store: string;
  project: string;
  /** Stop after this long without a client. */
  idleStopMs: number;
  /**
   * How often to check that the project and the store still exist (default 10 s):
   * a daemon whose project or store was removed (a temporary checkout, a CI
   * workspace) stops instead of idling out its hours.
   */
  goneCheckMs?: number | undefined;
  /** The build id of the Airlock serving (clients of another are refused). */
  build: string;
  /** Runs the CLI for one client and returns its exit status. */
  run(run: DaemonRun): Promise<number>;
  watcher?: ProjectWatcher | undefined;
  /** The environment the daemon was started with: a client with another is refused. */
  env: Readonly<Record<string, string | undefined>>;
  log?: (message: string) => void;
}

export interface RunningDaemon {
  /** Resolves once the daemon stopped (idle, `daemon stop`, a stale client, or `close`). */
  stopped: Promise<void>;
  close(): Promise<void>;
  status(): DaemonStatus;
}

/**
 * Listens on `opts.socket` (in a 0700 directory of this user, the socket
 * itself 0600) and runs each client's command line through `opts.run`,
 * streaming its output back. A dead daemon's socket is replaced; a live
 * one's is not (DAEMON_RUNNING).
 */
export async function serveDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const dir = dirname(opts.socket);
  try {
    ensureDaemonDir(dir);
  } catch (err) {
    throw new AirlockError<'DAEMON_UNSAFE_DIR'>(
      'DAEMON_UNSAFE_DIR',
      `the daemon's socket directory cannot be trusted: ${(err as Error).message}`,
      {
        hint: `Remove ${dir} (it is re-created with mode 0700), or set XDG_RUNTIME_DIR to a directory only you can use.`,
        details: { dir },
      },
    );
  }
  const started = performance.now();
  const key = envKey(opts.env);
  const log = opts.log ?? (() => {});
  let runs = 0;
  let running = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const clients = new Set<Socket>();

  const server = createServer((socket) => {
    clients.add(socket);
    socket.on('close', () => {
      clients.delete(socket);
      armIdle();
    });
    socket.on('error', () => {});
    clearTimeout(idleTimer);
    let abort: AbortController | undefined;
    readMessages<ClientMessage>(socket, (m) => {
      if (m.t === 'interrupt') {
        abort?.abort(new Error('interrupted by SIGINT'));
        return;
      }
      if (m.build !== opts.build) {
        send(socket, {
          t: 'refuse',
          reason: 'stale',
          message: `this daemon runs another build of Airlock (${opts.build}, client ${m.build}); it stops now`,
        });
        socket.end();
        void stop('a client of another Airlock build came');
        return;
      }
      if (m.t === 'status') {
        send(socket, { t: 'status', ...status() });
        socket.end();
      } else if (m.t === 'stop') {
        send(socket, { t: 'stopping' });
        socket.end();
        void stop('asked to stop');
      } else if (m.t === 'run') {
        if (abort) return; // one run per connection
        if (stopping) {
          send(socket, { t: 'refuse', reason: 'busy', message: 'the daemon is stopping' });
          socket.end();
          return;
        }
        if (envKey(m.env) !== key) {
          send(socket, {
            t: 'refuse',
            reason: 'env',
            message: 'this daemon serves another environment',
          });
          socket.end();
          return;
        }
        abort = new AbortController();
        const controller = abort;
        socket.on('close', () => controller.abort(new Error('the client went away')));
        void serveRun(socket, m, controller.signal);
      }
    });
  });

  const serveRun = async (
    socket: Socket,
    m: Extract<ClientMessage, { t: 'run' }>,
    signal: AbortSignal,
  ): Promise<void> => {
    runs++;
    running++;
    const phases: Phases = [];
    let mark = performance.now();
    const phase = (name: string): void => {
      const now = performance.now();
      phases.push([name, now - mark]);
      mark = now;
    };
    const out = (t: 'out' | 'err', shape: TerminalShape) => ({
      write: (s: string) => send(socket, { t, s }),
      isTTY: shape.isTTY,
      columns: shape.columns,
    });
    let code: number;
    try {
      code = await opts.run({
        argv: m.argv,
        cwd: m.cwd,
        env: m.env,
        stdout: out('out', m.out),
        stderr: out('err', m.err),
        signal,
        buildHint: async (project) => {
          const hint = await opts.watcher?.hintFor(project);
          phase('watcher caught up');
          return hint;
        },
        phase,
      });
      phase('run');
    } catch (err) {
      log(`a run failed outside the CLI: ${String(err)}`);
      code = 1;
      send(socket, { t: 'err', s: `airlock daemon: ${String(err)}\n` });
    } finally {
      running--;
    }
    send(socket, { t: 'exit', code, ...(m.trace === true ? { phases } : {}) });
    socket.end();
    // Its watcher can no longer crawl afresh: a new daemon (the next build starts one) can.
    if (opts.watcher?.worn) void stop('the file watcher is worn out');
  };

  const status = (): DaemonStatus => ({
    pid: process.pid,
    build: opts.build,
    project: opts.project,
    store: opts.store,
    socket: opts.socket,
    uptimeMs: Math.round(performance.now() - started),
    idleStopMs: opts.idleStopMs,
    runs,
    activeRuns: running,
    watcher: opts.watcher?.status() ?? {
      healthy: false,
      events: 0,
      resets: 0,
      lastReset: 'no watcher',
      crawlSuspects: 0,
      knownFiles: 0,
      knownDirs: 0,
    },
  });

  const listening: { ino?: bigint } = {};
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return stopped;
    stopping = true;
    log(`stopping: ${reason}`);
    clearTimeout(idleTimer);
    server.close();
    // Our socket only: a daemon started since may have replaced it.
    try {
      if (
        listening.ino !== undefined &&
        lstatSync(opts.socket, { bigint: true }).ino === listening.ino
      )
        unlinkSync(opts.socket);
    } catch {
      // already gone
    }
    while (running > 0) await new Promise((r) => setTimeout(r, 20));
    for (const c of clients) c.destroy();
    await opts.watcher?.close();
    resolveStopped();
  };

  const armIdle = (): void => {
    clearTimeout(idleTimer);
    if (stopping || clients.size > 0) return;
    idleTimer = setTimeout(() => void stop(`idle for ${opts.idleStopMs} ms`), opts.idleStopMs);
    idleTimer.unref?.();
  };

  await listen(server, opts.socket);
  chmodSync(opts.socket, 0o600);
  listening.ino = lstatSync(opts.socket, { bigint: true }).ino;
  armIdle();
  // Only a directory seen to exist counts as gone: a first build may still be making the store.
  const seen = new Set<string>();
  const goneCheck = setInterval(() => {
    for (const dir of [opts.project, opts.store]) {
      if (existsSync(dir)) seen.add(dir);
      else if (seen.has(dir)) void stop(`${dir} is gone`);
    }
  }, opts.goneCheckMs ?? 10_000);
  goneCheck.unref?.();
  void stopped.then(() => clearInterval(goneCheck));
  return { stopped, close: () => stop('closed'), status };
}

/** Listens on `path`, replacing the socket of a daemon that is gone, refusing a live one. */
async function listen(server: Server, path: string): Promise<void> {
  const attempt = (): Promise<NodeJS.ErrnoException | undefined> =>
    new Promise((resolve) => {
      server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
      server.listen(path, () => {
        server.removeAllListeners('error');
        resolve(undefined);
      });
    });
  const first = await attempt();
  if (!first) return;
  if (first.code !== 'EADDRINUSE') throw first;
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive)
    throw new AirlockError<'DAEMON_RUNNING'>(
      'DAEMON_RUNNING',
      `a build daemon already listens on ${path}`,
      { hint: 'Use it, or stop it first with `airlock daemon stop`.', details: { socket: path } },
    );
  unlinkSync(path); // a crashed daemon's socket
  const second = await attempt();
  if (second) throw second;
}
