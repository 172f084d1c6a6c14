import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { storeRoot } from '../daemon/paths.js';
import { checkStamp, stampKey, stampPath, writeStamp } from '../pipeline/build-stamp.js';
import { gitState, startGitState } from '../pipeline/git-state.js';
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

/**
 * Runs `argv` as a no-op when its build stamp matches, and returns the exit
 * status; undefined when the CLI must run it.
 */
export async function runStampedBuild(
  argv: readonly string[],
  io: FastIo,
): Promise<number | undefined> {
  const run = buildRun(argv);
  if (!run) return undefined;
  const startedAt = Date.now();
  let said: string | undefined;
  const store = storeRoot(run.store, io.cwd, io.env);
  const key = stampKey(argv, io.cwd, io.env);
  const file = stampPath(store, key);
  // `git status` (what a build event records) runs beside the stamp's check; it is
  // started only where the stamped build found a git work tree.
  let git: ReturnType<typeof startGitState> | undefined;
  const checked = checkStamp(file, key, (header) => {
    if (header.commit !== null) git = startGitState(header.root);
  });
  try {
    if (!checked) return undefined;
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
      git?.state ?? gitState(header.root),
    );
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
