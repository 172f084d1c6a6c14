import type { Socket } from 'node:net';

/*
 * The daemon protocol, v1: one JSON object per line over the unix socket.
 *
 *   client → daemon   {"t":"run","build":"<id>","argv":[…],"cwd":"/p","env":{…},"out":{…},"err":{…},"trace"?:true}
 *                     {"t":"interrupt"}  (Ctrl-C: the run's abort signal)
 *                     {"t":"status","build":"<id>"} | {"t":"stop","build":"<id>"}
 *   daemon → client   {"t":"out","s":"…"} | {"t":"err","s":"…"}  (the run's stdout and stderr)
 *                     {"t":"exit","code":0,"phases"?:[["answer",1.2],…]}  (phases: with "trace", ms each)
 *                     {"t":"refuse","reason":"stale"|"env"|"busy","message":"…"}
 *                     {"t":"status",…} | {"t":"stopping"}
 *
 * `build` identifies the Airlock that sent it (version and compiled files):
 * a daemon refuses a client of another build, which then runs in its own process.
 */
export const PROTOCOL = 1;

/** How a terminal the client writes to looks (the daemon renders for it). */
export interface TerminalShape {
  isTTY: boolean;
  columns?: number | undefined;
}

export type ClientMessage =
  | {
      t: 'run';
      build: string;
      argv: string[];
      cwd: string;
      env: Record<string, string>;
      out: TerminalShape;
      err: TerminalShape;
      /** Answer with the daemon's time per phase (AIRLOCK_DAEMON_TRACE=1 on the client). */
      trace?: boolean;
    }
  | { t: 'interrupt' }
  | { t: 'status'; build: string }
  | { t: 'stop'; build: string };

/** Where a daemon's time went in one run, in order: [phase, ms]. */
export type Phases = [string, number][];

/** What `airlock daemon status` reports about a running daemon. */
export interface DaemonStatus {
  pid: number;
  build: string;
  project: string;
  store: string;
  socket: string;
  uptimeMs: number;
  idleStopMs: number;
  runs: number;
  activeRuns: number;
  watcher: WatcherStatus;
}

export interface WatcherStatus {
  /** False after a watch error until the next build restarts it. */
  healthy: boolean;
  events: number;
  /** Times the watcher's knowledge was dropped (error, overflow doubt, clock jump, config change). */
  resets: number;
  lastReset: string;
  /**
   * Directories found changed since a crawl began, once its subscription was
   * in place: the watcher may have listed their parent before they existed
   * and never watch them, so nothing in them is trusted until the next crawl.
   */
  crawlSuspects: number;
  /** Files and directories it can currently vouch for. */
  knownFiles: number;
  knownDirs: number;
}

export type DaemonMessage =
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'exit'; code: number; phases?: Phases }
  | { t: 'refuse'; reason: 'stale' | 'env' | 'busy'; message: string }
  | ({ t: 'status' } & DaemonStatus)
  | { t: 'stopping' };

/** Calls `onMessage` with each JSON line read from `socket`; a line that is not JSON ends the connection. */
export function readMessages<M>(socket: Socket, onMessage: (m: M) => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line === '') continue;
      let m: M;
      try {
        m = JSON.parse(line) as M;
      } catch {
        socket.destroy();
        return;
      }
      onMessage(m);
    }
  });
}

/** Writes one message as a JSON line. */
export function send(socket: Socket, m: ClientMessage | DaemonMessage): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`);
}
