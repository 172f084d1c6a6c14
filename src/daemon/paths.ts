import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/*
 * Where a build daemon listens, format v1:
 *
 *   $XDG_RUNTIME_DIR/airlock-daemon-<uid>/   (else <tmpdir>/airlock-daemon-<uid>/), mode 0700
 *     <key>.sock    the unix socket, mode 0600
 *     <key>.log     what the daemon could not tell a client
 *
 * <key> is the first 24 hex digits of sha256("v1", store, project, umask,
 * environment): one daemon per store, project and environment, so that one
 * caller's environment never reaches another caller's build. This module is
 * loaded by the client on every `airlock build`: node built-ins only.
 */

/**
 * Variables that differ between two shells of one user without changing a
 * build (AIRLOCK_DAEMON only decides whether the daemon is used,
 * AIRLOCK_DAEMON_TRACE whether the client prints its timings; neither reaches the build).
 */
const VOLATILE_ENV = new Set([
  'PWD',
  'OLDPWD',
  '_',
  'SHLVL',
  'AIRLOCK_DAEMON',
  'AIRLOCK_DAEMON_TRACE',
]);

/** The per-user directory of daemon sockets. */
export function daemonDir(env: Readonly<Record<string, string | undefined>>): string {
  const uid = process.getuid?.() ?? 0;
  const runtime = env['XDG_RUNTIME_DIR'];
  const base = runtime !== undefined && runtime.startsWith('/') ? runtime : tmpdir();
  return join(base, `airlock-daemon-${uid}`);
}

/** The store a run uses: `--store`, else $AIRLOCK_HOME, else ~/.cache/airlock (as the store module decides). */
export function storeRoot(
  flag: string | undefined,
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (flag !== undefined) return resolve(cwd, flag);
  const home = env['AIRLOCK_HOME'];
  if (home !== undefined && home !== '') return resolve(home);
  const userHome = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir();
  return join(userHome, '.cache', 'airlock');
}

/** The project directory of `-C <dir or airlock.yaml>` (a file names its directory). */
export function projectDir(flag: string, cwd: string): string {
  const p = resolve(cwd, flag);
  try {
    return statSync(p).isDirectory() ? p : dirname(p);
  } catch {
    return p;
  }
}

/** The environment as it decides which daemon serves a run (volatile shell variables left out). */
export function envKey(env: Readonly<Record<string, string | undefined>>): string {
  const pairs = Object.entries(env)
    .filter(([k, v]) => v !== undefined && !VOLATILE_ENV.has(k))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  return createHash('sha256').update(pairs.join('\0')).digest('hex');
}

/** The socket of the daemon for this store, project and environment. */
export function socketPath(
  store: string,
  project: string,
  env: Readonly<Record<string, string | undefined>>,
  umask = currentUmask(),
): string {
  const key = createHash('sha256')
    .update(['v1', store, project, String(umask), envKey(env)].join('\0'))
    .digest('hex')
    .slice(0, 24);
  return join(daemonDir(env), `${key}.sock`);
}

/** The process's umask, read without changing it for long. */
export function currentUmask(): number {
  const m = process.umask(0o022);
  process.umask(m);
  return m;
}

/**
 * Why `dir` may not hold a daemon socket, or undefined when it may: it must
 * be a real directory (no symlink), owned by this user, readable and
 * writable by nobody else. Node cannot read a unix socket peer's uid
 * (SO_PEERCRED), so this directory's permissions are what keep another
 * user from connecting to the daemon or posing as one.
 */
export function unsafeDir(dir: string): string | undefined {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return `${dir} does not exist`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory`;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    return `${dir} belongs to uid ${st.uid}, not to this user (${uid})`;
  if ((st.mode & 0o077) !== 0)
    return `${dir} has mode ${(st.mode & 0o777).toString(8)}; only its owner may use it (0700)`;
  return undefined;
}

/** Creates the socket directory with mode 0700, or throws why it cannot be trusted. */
export function ensureDaemonDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const why = unsafeDir(dir);
  if (why !== undefined) throw new Error(why);
}
