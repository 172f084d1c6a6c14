/*
 * Whether a run may use the build daemon, decided from the environment
 * alone. Imports nothing: bin/airlock.js reads it before deciding to load
 * the daemon client (its socket code is not loaded when no daemon is wanted).
 */

/**
 * Whether builds may go through a build daemon: AIRLOCK_DAEMON=0 (or
 * false) says never, =1 (or true) always; unset, yes unless CI is set (a
 * CI job builds once, and a daemon would outlive it), like Turborepo.
 */
export function daemonWanted(env: Readonly<Record<string, string | undefined>>): boolean {
  const setting = env['AIRLOCK_DAEMON'];
  if (setting === '0' || setting === 'false') return false;
  if (setting === '1' || setting === 'true') return true;
  const ci = env['CI'];
  return ci === undefined || ci === '' || ci === '0' || ci === 'false';
}
