import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import type { FsHint } from '../hash/hint.js';

/** Where the CLI writes: the process's stdout/stderr, or a capture in a test. */
export interface CliOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/**
 * Everything one CLI run reads from and writes to its process, passed in so
 * that `main` can run several times in one process (in-process tests, a
 * program embedding the CLI): no command touches `process.*` directly.
 */
export interface CliIo {
  /** Relative paths on the command line are resolved against this directory. */
  cwd: string;
  /** The environment the CLI itself reads (CI, NO_COLOR, AIRLOCK_PASSWORD, registry settings). */
  env: Readonly<Record<string, string | undefined>>;
  stdout: CliOutput;
  stderr: CliOutput;
  /** A terminal to ask a password on; absent or not a TTY: never prompt. */
  stdin?: NodeJS.ReadStream | undefined;
  /** Aborted to stop the run cleanly (steps killed, temp files removed). */
  signal: AbortSignal;
  /**
   * The build daemon's file-watcher hint for a build of `project` (absent
   * outside the daemon): what is unchanged since its last build. `done` is
   * called when the build ends.
   */
  buildHint?: ((project: string) => Promise<(FsHint & { done(): void }) | undefined>) | undefined;
  /** Called once a long-running command starts: turns SIGINT/SIGTERM into `signal` (the real process only). */
  watchInterrupts?: (() => void) | undefined;
}

/** One run of the CLI: its I/O and the exit status a command asked for. */
export class CliSession {
  /** Set by a command whose report is a failure (exit 1) without throwing. */
  exitCode: number | undefined;
  /** The run's arguments as `main` got them (process.argv form), for the build stamp's key. */
  argv: readonly string[] | undefined;

  constructor(readonly io: CliIo) {}

  /** `p` as an absolute path, relative ones taken from the run's working directory. */
  path(p: string): string {
    return isAbsolute(p) ? p : resolve(this.io.cwd, p);
  }

  /** An optional path, resolved like `path`. */
  optionalPath(p: string | undefined): string | undefined {
    return p === undefined ? undefined : this.path(p);
  }
}

const sessions = new WeakMap<Command, CliSession>();

/** Ties `session` to the command tree `root` built for it. */
export function attachSession(root: Command, session: CliSession): void {
  sessions.set(root, session);
}

/** The session of the run that parsed `cmd` (any command of the tree). */
export function sessionOf(cmd: Command): CliSession {
  let root = cmd;
  while (root.parent) root = root.parent;
  const session = sessions.get(root);
  if (!session) throw new Error('command tree built without a CLI session');
  return session;
}

const processInterrupt = new AbortController();
let interruptsWatched = false;

/** The real process's I/O: what `bin/airlock.js` runs with. */
export function processIo(): CliIo {
  return {
    cwd: process.cwd(),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    // A getter: touching process.stdin opens it, which only a password prompt should do.
    get stdin() {
      return process.stdin;
    },
    signal: processInterrupt.signal,
    watchInterrupts: () => {
      if (interruptsWatched) return;
      interruptsWatched = true;
      // The first Ctrl-C is a clean stop (steps killed, temp files removed); a second exits at once.
      const onSignal = (name: NodeJS.Signals): void => {
        if (processInterrupt.signal.aborted) process.exit(130);
        process.stderr.write(
          `\n${name}: stopping running steps and cleaning up (press Ctrl-C again to quit at once)\n`,
        );
        processInterrupt.abort(new Error(`interrupted by ${name}`));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    },
  };
}
