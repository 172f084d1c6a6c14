import type { DaemonRun } from '../daemon/server.js';
import type { BuildHint, ProjectWatcher, QuietToken } from '../daemon/watch.js';
import { gitState } from '../pipeline/git-state.js';
import { checkStamp } from '../pipeline/build-stamp.js';
import { runStampedBuild, stampOf, type StampedBuildOptions } from './fast-build.js';
import { main } from './main.js';

/*
 * How the build daemon runs one client's command line. A build whose stamp
 * still matches is answered as a no-op, as bin/airlock.js does without a
 * daemon but with nothing to load, and with the watcher's help: the stamp's
 * project paths need no lstat while the watcher saw nothing change since
 * that very stamp text last matched in full. Anything else runs the CLI,
 * whose build reads what the watcher does not vouch for.
 */

export interface DaemonRunnerOptions {
  /** Wraps each build's hint (tests count what it vouched for). */
  wrapHint?: (hint: BuildHint) => BuildHint;
}

/** The daemon's `run`: the stamp first, then the CLI. */
export function daemonRunner(
  watcher: ProjectWatcher,
  opts: DaemonRunnerOptions = {},
): (r: DaemonRun) => Promise<number> {
  // Per stamp file: the text last checked in full, and the watcher's token from before that check.
  const checkedInFull = new Map<string, { text: string; token: QuietToken }>();
  // What a quiet token vouches for: the project, less its .git (whose changes no token counts).
  const gitDir = watcher.gitPrefix.slice(0, -1);
  const inProject = (abs: string): boolean =>
    (abs === watcher.root || abs.startsWith(`${watcher.root}/`)) &&
    abs !== gitDir &&
    !abs.startsWith(watcher.gitPrefix);

  /**
   * The stamp check with the watcher's help. A stamp text checked in full
   * since which the watcher saw nothing change in the project: its project
   * paths need no lstat, everything outside the project (the store, host
   * tools) is checked as ever. One that matched before the project changed
   * is not checked at all (it would most likely fail; the build decides). A
   * text not checked in full before is checked in full.
   */
  const stampedOptions = async (phase: (name: string) => void): Promise<StampedBuildOptions> => {
    // Likely a no-op (nothing changed since a stamp last matched): its git state is
    // read while the watcher catches up and the stamp is checked.
    const now = watcher.peekToken();
    const likely = [...checkedInFull.values()].some((l) => watcher.quietBetween(l.token, now));
    const git = likely ? gitState(watcher.root) : undefined;
    git?.catch(() => {});
    const token = await watcher.quietToken();
    phase('watcher caught up');
    return {
      phase,
      git: git && { root: watcher.root, state: git },
      trusted: (file, text) => {
        const last = checkedInFull.get(file);
        if (!token || last?.text !== text) return undefined;
        return watcher.quietBetween(last.token, token) ? inProject : false;
      },
      matched: (file, text, full) => {
        const last = checkedInFull.get(file);
        if (full && token) checkedInFull.set(file, { text, token });
        else if (full) checkedInFull.delete(file);
        // Checked outside the project, vouched inside since the same token: only its text moved on.
        else if (last) checkedInFull.set(file, { text, token: last.token });
      },
    };
  };

  /**
   * After a build, once its answer is sent: the stamp it wrote is checked in
   * full while the daemon is idle, so that the next run finds it vouched for.
   */
  const checkAfterBuild = async (r: DaemonRun): Promise<void> => {
    const stamp = stampOf(r.argv, r);
    if (!stamp) return;
    await new Promise((resolve) => setImmediate(resolve));
    const token = await watcher.quietToken();
    const checked = token && checkStamp(stamp.file, stamp.key);
    if (token && checked) checkedInFull.set(stamp.file, { text: checked.text, token });
  };
  let settling: Promise<void> = Promise.resolve();

  return async (r) => {
    await settling;
    const fast = await runStampedBuild(r.argv, r, await stampedOptions(r.phase));
    if (fast !== undefined) return fast;
    const code = await build(r);
    if (code === 0) settling = checkAfterBuild(r).catch(() => {});
    return code;
  };

  function build(r: DaemonRun): Promise<number> {
    return main(r.argv, {
      cwd: r.cwd,
      env: r.env,
      stdout: r.stdout,
      stderr: r.stderr,
      signal: r.signal,
      buildHint: async (p) => {
        const hint = await r.buildHint(p);
        return hint && opts.wrapHint ? opts.wrapHint(hint) : hint;
      },
    });
  }
}
