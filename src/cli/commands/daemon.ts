import { appendFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { DaemonStatus } from '../../daemon/protocol.js';
import { globalOptions } from '../run.js';
import { sessionOf } from '../session.js';

/** Default idle time before a daemon stops: three hours, like Turborepo's four. */
const IDLE_MINUTES = 180;

export function register(cli: Command): void {
  const daemon = cli
    .command('daemon')
    .description(
      'the build daemon: keeps what a file watcher learnt about the project between builds (started by `airlock build`)',
    );
  const project = (c: Command): Command =>
    c.option('-C, --project <dir>', 'project directory or airlock.yaml', '.');

  project(daemon.command('start'))
    .description(
      'serve builds of this store and project in the foreground until idle or stopped (`airlock build` starts one in the background on its own)',
    )
    .option(
      '--idle <minutes>',
      `stop after this many minutes without a build (default ${IDLE_MINUTES})`,
      minutes,
    )
    .option('--quiet', 'print nothing when started')
    .action(async (opts: { project: string; idle?: number; quiet?: boolean }, cmd: Command) => {
      const g = globalOptions(cmd);
      const session = sessionOf(cmd);
      const { io } = session;
      const where = await locate(session.path(opts.project), g.store, io.cwd, io.env);
      const [{ serveDaemon }, { ProjectWatcher }, { buildId }, { daemonRunner }] =
        await Promise.all([
          import('../../daemon/server.js'),
          import('../../daemon/watch.js'),
          import('../../daemon/client.js'),
          import('../daemon-run.js'),
        ]);
      const logFile = where.socket.replace(/\.sock$/, '.log');
      const log = (message: string): void => {
        try {
          appendFileSync(logFile, `${new Date().toISOString()} ${process.pid} ${message}\n`, {
            mode: 0o600,
          });
        } catch {
          // the log is best effort
        }
      };
      const { subscribe } = await import('@parcel/watcher');
      const watcher = new ProjectWatcher(where.project, subscribe, log);
      await watcher.start();
      let running;
      try {
        running = await serveDaemon({
          socket: where.socket,
          store: where.store,
          project: where.project,
          idleStopMs: (opts.idle ?? IDLE_MINUTES) * 60_000,
          build: buildId(),
          env: io.env,
          watcher,
          log,
          run: daemonRunner(watcher),
        });
      } catch (err) {
        await watcher.close();
        throw err;
      }
      log(`serving ${where.project} (store ${where.store}) on ${where.socket}`);
      if (g.json)
        io.stdout.write(
          `${JSON.stringify({ ok: true, pid: process.pid, socket: where.socket, project: where.project, store: where.store })}\n`,
        );
      else if (!opts.quiet)
        io.stdout.write(
          `build daemon ${process.pid} serving ${where.project} on ${where.socket}\n`,
        );
      const stop = (): void => void running.close();
      io.signal.addEventListener('abort', stop, { once: true });
      session.io.watchInterrupts?.();
      await running.stopped;
    });

  project(daemon.command('status'))
    .description('show whether a build daemon serves this store and project, and what it knows')
    .action(async (opts: { project: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      const session = sessionOf(cmd);
      const { io } = session;
      const where = await locate(session.path(opts.project), g.store, io.cwd, io.env);
      const { askDaemon } = await import('../../daemon/client.js');
      const answer = await askDaemon(where.socket, 'status');
      const status = answer?.t === 'status' ? (answer as DaemonStatus) : undefined;
      const stale = answer?.t === 'refuse';
      if (g.json) {
        io.stdout.write(
          `${JSON.stringify(
            status
              ? { ok: true, running: true, ...status }
              : { ok: true, running: false, stale, socket: where.socket, project: where.project },
            null,
            2,
          )}\n`,
        );
        return;
      }
      if (!status) {
        io.stdout.write(
          stale
            ? `a build daemon of another Airlock build was serving ${where.project}; it is stopping\n`
            : `no build daemon serves ${where.project} (socket ${where.socket})\n`,
        );
        return;
      }
      const w = status.watcher;
      io.stdout.write(
        `build daemon ${status.pid} serving ${status.project}\n` +
          `  store    ${status.store}\n  socket   ${status.socket}\n` +
          `  up       ${Math.round(status.uptimeMs / 1000)} s, ${status.runs} run(s), ${status.activeRuns} running; stops after ${Math.round(status.idleStopMs / 60_000)} min idle\n` +
          `  watcher  ${w.healthy ? 'healthy' : 'NOT watching (next build scans in full)'}; ${w.events} events; knows ${w.knownFiles} files in ${w.knownDirs} directories; ${w.resets} reset(s), last: ${w.lastReset}\n`,
      );
    });

  project(daemon.command('stop'))
    .description(
      'stop the build daemon of this store and project (builds then run in-process until the next starts one)',
    )
    .action(async (opts: { project: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      const session = sessionOf(cmd);
      const { io } = session;
      const where = await locate(session.path(opts.project), g.store, io.cwd, io.env);
      const { askDaemon } = await import('../../daemon/client.js');
      const answer = await askDaemon(where.socket, 'stop');
      const stopped = answer !== undefined;
      if (stopped) await socketGone(where.socket);
      if (g.json)
        io.stdout.write(`${JSON.stringify({ ok: true, stopped, socket: where.socket })}\n`);
      else
        io.stdout.write(
          stopped
            ? `stopped the build daemon of ${where.project}\n`
            : `no build daemon serves ${where.project}\n`,
        );
    });
}

/** The socket, store and project directory a daemon command is about. */
async function locate(
  projectFlag: string,
  storeFlag: string | undefined,
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ socket: string; store: string; project: string }> {
  const { projectDir, socketPath, storeRoot } = await import('../../daemon/paths.js');
  const store = storeRoot(storeFlag, cwd, env);
  const project = projectDir(projectFlag, cwd);
  return { socket: socketPath(store, project, env), store, project };
}

/** Waits (up to 5 s) until the stopped daemon has removed its socket. */
async function socketGone(socket: string): Promise<void> {
  const { existsSync } = await import('node:fs');
  for (let i = 0; i < 250 && existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
}

function minutes(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a number of minutes > 0');
  return n;
}
