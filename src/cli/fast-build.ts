import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { storeRoot } from '../daemon/paths.js';
import { checkStamp, stampKey, stampPath, writeStamp } from '../pipeline/build-stamp.js';
import { gitState, startGitState, type GitState } from '../pipeline/git-state.js';
import type { CliOutput } from './session.js';

/*
 * The fast path of `airlock build`, run by bin/airlock.js before the CLI is
 * loaded: when the build stamp of these exact arguments, working directory
 * and environment still matches the files (see pipeline/build-stamp.ts), the
 * run prints and records what a no-op build does, and nothing else loads.
 * Any doubt returns undefined and the CLI builds as usual.
 */

export interface FastIo {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  stdout: CliOutput;
  stderr: CliOutput;
}

// Flags of `build` and the global ones that take a value (the next word is not the command).
const VALUE_FLAGS = new Set([
  '--store',
  '-C',
  '--project',
  '-j',
  '--jobs',
  '--key',
  '--builder-id',
  '--remote-cache',
  '--insecure-registry',
]);

/** The store flag of a `build` run, or undefined when argv is not one the fast path takes. */
function buildRun(argv: readonly string[]): { store: string | undefined } | undefined {
  let command: string | undefined;
  let store: string | undefined;
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--' || a === '-h' || a === '--help' || a === '-V' || a === '--version')
      return undefined;
    if (a === '--store') store = args[++i];
    else if (a.startsWith('--store=')) store = a.slice('--store='.length);
    else if (VALUE_FLAGS.has(a)) i++;
    else if (!a.startsWith('-') && command === undefined) command = a;
  }
  if (command !== 'build' || store === '') return undefined;
  return { store };
}

/** The build stamp a run of `argv` would be answered from, or undefined when it is not a build the fast path takes. */
export function stampOf(
  argv: readonly string[],
  io: Pick<FastIo, 'cwd' | 'env'>,
): { store: string; key: string; file: string } | undefined {
  const run = buildRun(argv);
  if (!run) return undefined;
  const store = storeRoot(run.store, io.cwd, io.env);
  const key = stampKey(argv, io.cwd, io.env);
  return { store, key, file: stampPath(store, key) };
}

/**
 * Runs `argv` as a no-op when its build stamp matches, and returns the exit
 * status; undefined when the CLI must run it.
 */
/** What the build daemon adds to the fast path. */
export interface StampedBuildOptions {
  /** Ends a phase of the run's time (the daemon's trace). */
  phase?: (name: string) => void;
  /** Which paths of the stamp at `file`, with this text, need no check; false: none, build (see `checkStamp`). */
  trusted?: (file: string, text: string) => ((abs: string) => boolean) | false | undefined;
  /**
   * Called when the stamp at `file` matched, with its text from now on; `full`
   * when every path was checked, not only those `trusted` left.
   */
  matched?: (file: string, text: string, full: boolean) => void;
  /** The git state of `root`, being read since the run began. */
  git?: { root: string; state: Promise<GitState> } | undefined;
}

export async function runStampedBuild(
  argv: readonly string[],
  io: FastIo,
  opts: StampedBuildOptions = {},
): Promise<number | undefined> {
  const phase = opts.phase ?? (() => {});
  const stamp = stampOf(argv, io);
  if (!stamp) return undefined;
  const startedAt = Date.now();
  const { store, key, file } = stamp;
  let said: string | undefined;
  const trusted = opts.trusted;
  // `git status` (what a build event records) runs beside the stamp's check; it is
  // started only where the stamped build found a git work tree, and not when the
  // daemon has been reading it since the run began.
  let git: ReturnType<typeof startGitState> | undefined;
  const checked = checkStamp(
    file,
    key,
    (header) => {
      if (header.commit !== null && opts.git?.root !== header.root)
        git = startGitState(header.root);
    },
    trusted && ((text) => trusted(file, text)),
  );
  phase(checked?.full === false ? 'stamp checked outside the project' : 'stamp checked');
  try {
    if (!checked) return undefined;
    // The refreshed stamp (written below) holds the same signatures, just checked now.
    opts.matched?.(file, checked.refreshed?.toString('latin1') ?? checked.text, checked.full);
    const { header } = checked;
    // A killed build's work directory is removed by the next build, and a running one may
    // change the store: either way, build.
    try {
      if (readdirSync(join(store, 'tmp')).length > 0) return undefined;
    } catch {
      return undefined;
    }
    const { recordStampedNoop } = await import('../pipeline/build-noop.js');
    const recorded = await recordStampedNoop(
      header,
      store,
      startedAt,
      io.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      opts.git?.root === header.root ? opts.git.state : (git?.state ?? gitState(header.root)),
      phase,
    );
    phase('audit recorded');
    if (recorded === false) return undefined;
    git = undefined;
    said = recorded.said;
  } finally {
    // Declined: the CLI reads the git state itself.
    git?.stop();
  }
  const { header } = checked;
  const { createRenderer, renderOptions } = await import('./render.js');
  const renderer = createRenderer(renderOptions(header.render, io), io.stderr);
  for (const target of header.queued) renderer.sink({ type: 'target', target, state: 'queued' });
  for (const target of header.finished) renderer.sink({ type: 'target', target, state: 'cached' });
  if (said !== undefined) renderer.sink({ type: 'log', level: 'info', message: said });
  renderer.done();
  io.stdout.write(header.stdout);
  phase('answered');
  // What was checked by content and has settled since is checked by its stat next time.
  if (checked.refreshed !== undefined) {
    try {
      writeStamp(file, checked.refreshed);
    } catch {
      // a read-only store: the next run checks by content again
    }
  }
  return 0;
}
