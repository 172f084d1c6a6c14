import { execFile } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { AirlockError, compareBytes, digestHex, digestJson, errnoCode } from '../core/index.js';
import { ISOLATION_ARGS } from './args.js';
import { launcherSyscalls, type LauncherSyscalls } from './launcher.js';
import { SANDBOX_PROFILE } from './profile.js';
import type { RootfsEntry, RootfsLayout, SandboxErrorCode, SandboxHost } from './types.js';

/** Where to look for bwrap; the defaults are the process's PATH. */
export interface ProbeOptions {
  /** A PATH-style list of directories searched for `bwrap` (default: `process.env.PATH`). */
  searchPath?: string;
}

export interface SandboxProbe {
  /** Absolute path of the bwrap binary. */
  bwrap: string;
  /** Absolute path of the perl that runs the launcher (see launcher.ts). */
  perl: string;
  /** Syscall numbers the launcher needs on this architecture. */
  syscalls: LauncherSyscalls;
  /** Its version, e.g. '0.8.0'. */
  version: string;
}

const INSTALL_HINT =
  'Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap).';

function unavailable(
  message: string,
  hint: string,
  details: Record<string, unknown>,
  cause?: unknown,
): AirlockError<SandboxErrorCode> {
  return new AirlockError<SandboxErrorCode>('SANDBOX_UNAVAILABLE', message, {
    hint,
    details,
    cause,
  });
}

function run(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: {}, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve(error === null ? { code, stdout, stderr } : { code, stdout, stderr, error });
    });
  });
}

/** The first executable `name` on `searchPath`, or undefined. */
function findExecutable(searchPath: string, name: string): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Turns bwrap's complaint about namespaces into the fix for this kernel. */
function namespaceHint(stderr: string): string {
  if (/user namespace|namespace|Operation not permitted|No permissions/i.test(stderr)) {
    return 'The kernel refused to create user namespaces. Allow them (sysctl -w kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04+ sysctl -w kernel.apparmor_restrict_unprivileged_userns=0), or in a container run it with --privileged or a seccomp profile that permits unshare/clone with CLONE_NEWUSER.';
  }
  return `bubblewrap is installed but cannot start a sandbox here: ${stderr.trim() || 'no reason given'}. ${INSTALL_HINT}`;
}

async function probeUncached(searchPath: string): Promise<SandboxProbe> {
  const bwrap = findExecutable(searchPath, 'bwrap');
  if (bwrap === undefined) {
    throw unavailable(
      'bubblewrap (bwrap) was not found',
      `${INSTALL_HINT} Then make sure bwrap is on PATH.`,
      { searchPath },
    );
  }
  const perl = findExecutable(searchPath, 'perl');
  if (perl === undefined) {
    throw unavailable(
      'perl was not found; Airlock starts every sandbox through a small perl launcher',
      'Install perl (Debian/Ubuntu: perl-base, always installed; Fedora: dnf install perl-interpreter) and make sure it is on PATH.',
      { searchPath },
    );
  }
  const syscalls = launcherSyscalls(process.arch);
  if (syscalls === undefined) {
    throw unavailable(
      `the sandbox launcher does not know this architecture (${process.arch})`,
      'Run Airlock on x86_64, arm64, riscv64, arm, ia32, ppc64 or s390x Linux.',
      { arch: process.arch },
    );
  }
  const version = await run(bwrap, ['--version']);
  const match = /bubblewrap\s+(\S+)/.exec(version.stdout);
  if (version.code !== 0 || match?.[1] === undefined) {
    throw unavailable(
      `${bwrap} --version failed`,
      INSTALL_HINT,
      { bwrap, stderr: version.stderr },
      version.error,
    );
  }
  // A real, minimal sandbox: the only way to learn whether this kernel allows it.
  const trial = await run(bwrap, [
    ...ISOLATION_ARGS,
    '--ro-bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--',
    '/usr/bin/true',
  ]);
  if (trial.code !== 0) {
    throw unavailable(
      `bubblewrap ${match[1]} cannot create a sandbox on this host`,
      namespaceHint(trial.stderr),
      { bwrap, version: match[1], stderr: trial.stderr, exitCode: trial.code },
      trial.error,
    );
  }
  return { bwrap, perl, syscalls, version: match[1] };
}

let cachedProbe: Promise<SandboxProbe> | undefined;

/**
 * Finds a bwrap that can really create an unprivileged, network-less sandbox
 * here; cached per process for the default search path. Rejects with
 * SANDBOX_UNAVAILABLE saying how to install bubblewrap or why the kernel refuses.
 */
export function probeSandbox(options: ProbeOptions = {}): Promise<SandboxProbe> {
  if (options.searchPath !== undefined) return probeUncached(options.searchPath);
  cachedProbe ??= probeUncached(process.env.PATH ?? '/usr/bin:/bin');
  // A failed probe is not cached: the user may install bwrap and retry.
  cachedProbe.catch(() => {
    cachedProbe = undefined;
  });
  return cachedProbe;
}

/**
 * The synthetic /etc files, shared by every process of this user:
 *
 *   <tmpdir>/airlock-sandbox-etc-<uid>-<first 16 hex of sha256(canonical JSON of SANDBOX_PROFILE.syntheticEtc)>/
 *     group  hosts  nsswitch.conf  passwd        (airlock.sandbox/v1: 0644 files in a 0755 dir)
 *
 * The name is content-addressed so it never needs cleaning up and a changed
 * profile gets a new directory.
 */
function sharedEtcDir(): string {
  const uid = process.getuid?.() ?? 0;
  const hash = digestHex(digestJson(SANDBOX_PROFILE.syntheticEtc)).slice(0, 16);
  return join(tmpdir(), `airlock-sandbox-etc-${uid}-${hash}`);
}

/** True when `dir` holds exactly our synthetic files, owned by us and writable by nobody else. */
async function isTrustedEtcDir(dir: string): Promise<boolean> {
  const uid = process.getuid?.() ?? 0;
  const owned = (st: { uid: number; mode: number }): boolean =>
    st.uid === uid && (st.mode & 0o022) === 0;
  try {
    const st = await lstat(dir);
    if (!st.isDirectory() || !owned(st)) return false;
    for (const [name, content] of Object.entries(SANDBOX_PROFILE.syntheticEtc)) {
      const path = join(dir, name);
      const fst = await lstat(path);
      if (!fst.isFile() || !owned(fst) || (await readFile(path, 'utf8')) !== content) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Writes the synthetic /etc files into a fresh private temp dir. */
async function writeEtcDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-sandbox-etc-tmp-'));
  for (const [name, content] of Object.entries(SANDBOX_PROFILE.syntheticEtc)) {
    await writeFile(join(dir, name), content, { mode: 0o644, flag: 'wx' });
  }
  await chmod(dir, 0o755);
  return dir;
}

/**
 * A directory holding the synthetic /etc files that nobody but this user can
 * alter: the shared content-addressed one when it can be trusted or created,
 * else a private one removed when the process exits.
 */
async function syntheticEtc(): Promise<string> {
  const shared = sharedEtcDir();
  if (await isTrustedEtcDir(shared)) return shared;
  const staged = await writeEtcDir();
  try {
    await rename(staged, shared);
  } catch {
    // Someone else made it first (fine if it is trustworthy) or it is squatted.
  }
  if (await isTrustedEtcDir(shared)) {
    await rm(staged, { recursive: true, force: true });
    return shared;
  }
  process.once('exit', () => rmSync(staged, { recursive: true, force: true }));
  return staged;
}

/** Reads which top-level toolchain entries are directories and which are merged-/usr symlinks on this host. */
async function readHostLayout(): Promise<Omit<SandboxHost, 'syntheticEtcDir'>> {
  const rootDirs: string[] = [];
  const rootLinks: { path: string; target: string }[] = [];
  for (const path of SANDBOX_PROFILE.hostToolchain.rootEntries) {
    try {
      const st = await lstat(path);
      if (st.isSymbolicLink()) rootLinks.push({ path, target: await readlink(path) });
      else if (st.isDirectory()) rootDirs.push(path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  const hostEtc: string[] = [];
  for (const path of SANDBOX_PROFILE.hostToolchain.etc) {
    try {
      await lstat(path);
      hostEtc.push(path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return { rootDirs: rootDirs.sort(compareBytes), rootLinks, hostEtc };
}

let cachedHost: Promise<SandboxHost> | undefined;

/** The host layout and the synthetic /etc (by its real path), computed once per process and shared by every step. */
export function prepareSandboxHost(): Promise<SandboxHost> {
  cachedHost ??= (async () => {
    const [layout, etcDir] = await Promise.all([readHostLayout(), syntheticEtc()]);
    // Its real path, once: every step hides this directory behind an overlay by it.
    return { ...layout, syntheticEtcDir: await realpath(etcDir) };
  })();
  cachedHost.catch(() => {
    cachedHost = undefined;
  });
  return cachedHost;
}

/** The directories, files and symlinks directly inside `dir`, sorted by name bytes; other kinds are left out. */
async function listEntries(dir: string): Promise<RootfsEntry[]> {
  const out: RootfsEntry[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.isDirectory()) out.push({ name: d.name, kind: 'dir' });
    else if (d.isFile()) out.push({ name: d.name, kind: 'file' });
    else if (d.isSymbolicLink())
      out.push({ name: d.name, kind: 'symlink', target: await readlink(join(dir, d.name)) });
  }
  return out.sort((a, b) => compareBytes(a.name, b.name));
}

/**
 * Reads the top level and the /etc of an unpacked image root, for
 * `bwrapArgs`; rejects with SANDBOX_INVALID_SPEC when `root` is not a directory.
 */
export async function readRootfsLayout(root: string): Promise<RootfsLayout> {
  let path: string;
  try {
    path = await realpath(root);
    if (!(await lstat(path)).isDirectory()) throw new Error('not a directory');
  } catch (cause) {
    throw new AirlockError<SandboxErrorCode>(
      'SANDBOX_INVALID_SPEC',
      `root filesystem ${root} is not a directory`,
      {
        hint: 'Point rootfs at an unpacked image root (the builder prepares it under <store>/airlock/v1/roots/).',
        details: { rootfs: root },
        cause,
      },
    );
  }
  const top = await listEntries(path);
  const etc = top.some((e) => e.name === 'etc' && e.kind === 'dir')
    ? await listEntries(join(path, 'etc'))
    : [];
  return { path, top, etc };
}
