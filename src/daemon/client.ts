import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AIRLOCK_VERSION } from '../core/version.js';
import { daemonDir, projectDir, socketPath, storeRoot, unsafeDir } from './paths.js';
import { daemonWanted } from './wanted.js';
import {
  readMessages,
  send,
  type DaemonMessage,
  type Phases,
  type TerminalShape,
} from './protocol.js';

/** Set to 1 on a client: it prints where a daemon run's time went (its own and the daemon's) to stderr. */
export const TRACE_ENV = 'AIRLOCK_DAEMON_TRACE';

/*
 * The client side of `airlock build` through the build daemon. Loaded by
 * bin/airlock.js before anything else, so it imports node built-ins and
 * three small modules only: a build the daemon serves never loads the CLI.
 */

/** Where a client writes: the process's stdout and stderr, or a capture. */
export interface ClientOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

export interface ClientIo {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  stdout: ClientOutput;
  stderr: ClientOutput;
}

export interface ClientOptions {
  /** Start a daemon in the background when none answers (default true; the build itself then runs in-process). */
  spawnDaemon?: boolean;
  /** This client's build id (default: computed from the compiled files); tests give another to play a stale client. */
  build?: string;
  /** Called once with a function that forwards an interrupt; the real process wires SIGINT/SIGTERM to it. */
  onInterrupt?: (forward: () => void) => () => void;
}

/** What decides a daemon for a run: its socket, store and project directory. */
export interface DaemonTarget {
  socket: string;
  store: string;
  project: string;
}

export { daemonWanted };

/**
 * The daemon a run of `argv` would use, or undefined when it must run in its
 * own process: no daemon wanted (`daemonWanted`), not `build`,
 * `--no-daemon`, `--sign` (it may ask for a password), `--help`, or
 * arguments this small parser does not follow.
 */
export function daemonTarget(
  argv: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
): DaemonTarget | undefined {
  if (!daemonWanted(env)) return undefined;
  const args = argv.slice(2);
  let command: string | undefined;
  let store: string | undefined;
  let project = '.';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string | undefined => args[++i];
    if (a === '--') return undefined;
    if (a === '--no-daemon' || a === '--sign' || a === '-h' || a === '--help') return undefined;
    if (a === '--store') store = value();
    else if (a.startsWith('--store=')) store = a.slice('--store='.length);
    else if (a === '-C' || a === '--project') project = value() ?? '.';
    else if (a.startsWith('--project=')) project = a.slice('--project='.length);
    else if (a.startsWith('-C') && a.length > 2) project = a.slice(2);
    else if (!a.startsWith('-') && command === undefined) command = a;
  }
  if (command !== 'build' || store === '') return undefined;
  const storeDir = storeRoot(store, cwd, env);
  const dir = projectDir(project, cwd);
  return { socket: socketPath(storeDir, dir, env), store: storeDir, project: dir };
}

let cachedBuildId: string | undefined;

/**
 * This Airlock's build id: its version and the identity of its compiled
 * files (path, size, mtime, inode). A daemon started by another build of
 * Airlock refuses this client.
 */
export function buildId(): string {
  if (cachedBuildId !== undefined) return cachedBuildId;
  const self = fileURLToPath(import.meta.url);
  const root = dirname(dirname(self));
  const ext = extname(self);
  const hash = createHash('sha256').update(`${AIRLOCK_VERSION}\0${root}\0`);
  for (const f of [
    'cli/main',
    'pipeline/build',
    'builder/executor',
    'hash/inputs',
    'daemon/server',
    'daemon/watch',
  ]) {
    try {
      const st = statSync(join(root, `${f}${ext}`), { bigint: true });
      hash.update(`${f}:${st.size}:${st.mtimeNs}:${st.ino}\0`);
    } catch {
      hash.update(`${f}:-\0`);
    }
  }
  cachedBuildId = hash.digest('hex').slice(0, 32);
  return cachedBuildId;
}

/**
 * Runs `argv` in the build daemon and returns its exit status, or undefined
 * when the caller must run it in-process: no daemon wanted, none running
 * (one is started for the next build), a socket directory that is not this
 * user's alone, a stale daemon, or a daemon that stopped mid-run.
 */
export async function runViaDaemon(
  argv: readonly string[],
  io: ClientIo,
  opts: ClientOptions = {},
): Promise<number | undefined> {
  const trace: Phases | undefined =
    io.env[TRACE_ENV] === '1' ? [['client loaded', performance.now()]] : undefined;
  const target = daemonTarget(argv, io.cwd, io.env);
  if (!target) return undefined;
  const spawnIt = opts.spawnDaemon !== false;
  const dir = daemonDir(io.env);
  const why = unsafeDir(dir);
  if (why !== undefined) {
    // Missing: the daemon creates it. Anything else: never talk through it.
    if (why.endsWith('does not exist')) {
      if (spawnIt) startDaemon(target, io);
    } else io.stderr.write(`airlock: not using the build daemon: ${why}\n`);
    return undefined;
  }
  const socket = await connectTo(target.socket);
  if (!socket) {
    if (spawnIt) startDaemon(target, io);
    return undefined;
  }
  trace?.push(['connected', performance.now()]);
  return converse(socket, argv, io, opts, target, trace);
}

/** The trace line: the client's marks (ms since the process started) and the daemon's phases (ms each). */
export function traceText(client: Phases, daemon: Phases | undefined): string {
  const fmt = (p: Phases): string => p.map(([n, ms]) => `${n} ${ms.toFixed(1)}`).join(', ');
  return `airlock daemon trace: client (ms since start) ${fmt(client)}; daemon (ms each) ${daemon ? fmt(daemon) : 'none'}\n`;
}

/** Connects, or undefined when nothing listens (no socket, or a dead daemon's). */
function connectTo(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => resolve(undefined));
  });
}

function converse(
  socket: Socket,
  argv: readonly string[],
  io: ClientIo,
  opts: ClientOptions,
  target: DaemonTarget,
  trace: Phases | undefined,
): Promise<number | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    let answered = false;
    const wired: { unwire?: (() => void) | undefined } = {};
    const finish = (code: number | undefined): void => {
      if (settled) return;
      settled = true;
      wired.unwire?.();
      socket.destroy();
      resolve(code);
    };
    readMessages<DaemonMessage>(socket, (m) => {
      if (trace && !answered) trace.push(['first answer', performance.now()]);
      answered = true;
      if (m.t === 'out') io.stdout.write(m.s);
      else if (m.t === 'err') io.stderr.write(m.s);
      else if (m.t === 'exit') {
        if (trace) {
          trace.push(['exit', performance.now()]);
          io.stderr.write(traceText(trace, m.phases));
        }
        finish(m.code);
      } else if (m.t === 'refuse') {
        // A stale daemon stops itself on refusing; the next build gets a fresh one.
        if (m.reason === 'stale' && opts.spawnDaemon !== false) startDaemon(target, io);
        finish(undefined);
      }
    });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => {
      if (!settled)
        io.stderr.write('airlock: the build daemon stopped; building in this process\n');
      finish(undefined);
    });
    wired.unwire = opts.onInterrupt?.(() => send(socket, { t: 'interrupt' }));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(io.env)) if (v !== undefined && k !== TRACE_ENV) env[k] = v;
    send(socket, {
      t: 'run',
      build: opts.build ?? buildId(),
      argv: [...argv],
      cwd: io.cwd,
      env,
      out: shape(io.stdout),
      err: shape(io.stderr),
      ...(trace ? { trace: true } : {}),
    });
    trace?.push(['sent', performance.now()]);
  });
}

function shape(o: ClientOutput): TerminalShape {
  return { isTTY: o.isTTY === true, columns: o.columns };
}

/** Starts `airlock daemon start` for this store and project in the background, detached. */
function startDaemon(target: DaemonTarget, io: ClientIo): void {
  const bin = fileURLToPath(new URL('../../bin/airlock.js', import.meta.url));
  try {
    const child = spawn(
      process.execPath,
      [bin, 'daemon', 'start', '--store', target.store, '-C', target.project, '--quiet'],
      { cwd: target.project, env: { ...io.env }, detached: true, stdio: 'ignore' },
    );
    child.on('error', () => {});
    child.unref();
  } catch {
    // Starting it is best effort: this build runs in-process either way.
  }
}

/** Sends `status` or `stop` to the daemon at `socket`; its answer, or undefined when none listens. */
export async function askDaemon(
  socket: string,
  t: 'status' | 'stop',
  build = buildId(),
): Promise<DaemonMessage | undefined> {
  const s = await connectTo(socket);
  if (!s) return undefined;
  return new Promise((resolve) => {
    let answer: DaemonMessage | undefined;
    readMessages<DaemonMessage>(s, (m) => {
      answer ??= m;
    });
    s.on('error', () => {});
    s.on('close', () => resolve(answer));
    send(s, t === 'status' ? { t: 'status', build } : { t: 'stop', build });
  });
}
