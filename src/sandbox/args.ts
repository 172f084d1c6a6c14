import { posix } from 'node:path';
import { AirlockError, assertRelativePath, compareBytes, sortByBytes } from '../core/index.js';
import { IMAGE_ROOT_PROFILE, RESERVED_ENV, SANDBOX_PROFILE } from './profile.js';
import type { RootfsLayout, SandboxErrorCode, SandboxHost, SandboxSpec } from './types.js';

/** The host of a merged-/usr Debian system, without synthetic /etc files: what `bwrapArgs` assumes unless told. */
export const MERGED_USR_HOST: SandboxHost = {
  rootDirs: ['/usr'],
  rootLinks: [
    { path: '/bin', target: 'usr/bin' },
    { path: '/lib', target: 'usr/lib' },
    { path: '/lib64', target: 'usr/lib64' },
    { path: '/sbin', target: 'usr/sbin' },
  ],
  hostEtc: ['/etc/alternatives', '/etc/ld.so.cache'],
};

/** The isolation every sandbox (and the availability probe) starts with: all namespaces, no capabilities, no environment. */
export const ISOLATION_ARGS: readonly string[] = [
  '--unshare-all',
  '--unshare-user',
  '--disable-userns',
  '--die-with-parent',
  '--new-session',
  '--cap-drop',
  'ALL',
  '--clearenv',
];

/** Sandbox paths no input or work directory may cover, shadow or sit inside. */
const RESERVED_PATHS: readonly string[] = [
  '/proc',
  '/dev',
  '/etc',
  SANDBOX_PROFILE.toolsDir,
  ...SANDBOX_PROFILE.hostToolchain.rootEntries,
];
/** Sandbox paths that may hold inputs below them but may not be replaced. */
const PRIVATE_MOUNTS: readonly string[] = [SANDBOX_PROFILE.tmp.path, SANDBOX_PROFILE.home.path];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TOOL_NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function invalid(message: string, hint: string, details: Record<string, unknown>): never {
  throw new AirlockError<SandboxErrorCode>('SANDBOX_INVALID_SPEC', message, { hint, details });
}

function isUnderOrEqual(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/** Returns `path` when it is an absolute, normalized sandbox path that leaves the system mounts alone; throws otherwise. */
function checkSandboxPath(path: string, what: string): string {
  if (
    !path.startsWith('/') ||
    posix.normalize(path) !== path ||
    path.endsWith('/') ||
    path.includes('\0')
  ) {
    invalid(
      `${what}: ${JSON.stringify(path)} is not a normalized absolute path`,
      'Use an absolute path such as /src or /deps/lib, without "..", "." or a trailing "/".',
      { what, path },
    );
  }
  const clash =
    RESERVED_PATHS.find((r) => isUnderOrEqual(path, r) || isUnderOrEqual(r, path)) ??
    PRIVATE_MOUNTS.find((r) => isUnderOrEqual(r, path));
  if (clash !== undefined) {
    invalid(
      `${what}: ${path} would cover or shadow the sandbox's ${clash}`,
      `Choose a path outside ${RESERVED_PATHS.join(', ')} (below /tmp or /home/build is fine).`,
      { what, path, reserved: clash },
    );
  }
  return path;
}

/** The sandbox path an input is mounted at: `dest` itself when absolute, else `dest` below the work directory. */
export function inputMountPoint(dest: string, workDest: string): string {
  if (dest.startsWith('/')) return checkSandboxPath(dest, 'input dest');
  try {
    assertRelativePath(dest, 'input dest');
  } catch (cause) {
    throw new AirlockError<SandboxErrorCode>(
      'SANDBOX_INVALID_SPEC',
      `input dest ${JSON.stringify(dest)} is not a relative path inside the work directory`,
      {
        hint: 'Give inputs a path relative to the work directory without "..", "." or empty segments, or an absolute sandbox path.',
        details: { dest },
        cause,
      },
    );
  }
  return `${workDest}/${dest}`;
}

function checkEnv(env: Record<string, string>, what: string, reserved: readonly string[]): void {
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) {
      invalid(
        `${what}: ${JSON.stringify(name)} is not a valid variable name`,
        'Use letters, digits and "_", not starting with a digit.',
        { what, name },
      );
    }
    if (reserved.includes(name)) {
      invalid(
        `${what}: ${name} is fixed by the sandbox and cannot be declared`,
        `Remove ${name}; the sandbox sets ${RESERVED_ENV.join(', ')} itself (SOURCE_DATE_EPOCH comes from sourceDateEpoch).`,
        { what, name },
      );
    }
    if (value.includes('\0'))
      invalid(`${what}: ${name} contains a NUL byte`, 'Remove the NUL byte from the value.', {
        what,
        name,
      });
  }
}

/** The full environment of a step, sorted by name: fixed profile values, declared env, SOURCE_DATE_EPOCH, then the variant's extra env (which wins). */
export function sandboxEnv(
  spec: Pick<SandboxSpec, 'env' | 'sourceDateEpoch' | 'variant'>,
): [string, string][] {
  const merged: Record<string, string> = {
    ...spec.env,
    ...SANDBOX_PROFILE.env,
    [SANDBOX_PROFILE.sourceDateEpochVar]: String(spec.sourceDateEpoch),
    ...spec.variant?.extraEnv,
  };
  return sortByBytes(Object.entries(merged), ([name]) => name);
}

/**
 * The bubblewrap arguments (everything after `bwrap`) that run `spec` with all
 * namespaces unshared, no network, no capabilities, a read-only root holding only
 * the host toolchain, a minimal /etc, private /tmp and HOME, the declared inputs
 * read-only and the work directory read-write. Pure; throws SANDBOX_INVALID_SPEC
 * for a spec that would break those promises. Paths are used as given: callers
 * resolve symlinks first (runInSandbox does). With `spec.rootfs`, `rootfs` (its
 * layout) replaces the host toolchain: see `rootfsArgs`.
 */
export function bwrapArgs(
  spec: SandboxSpec,
  host: SandboxHost = MERGED_USR_HOST,
  rootfs?: RootfsLayout,
): string[] {
  const workDest = checkSandboxPath(spec.workDest ?? SANDBOX_PROFILE.workDest, 'workDest');
  if (PRIVATE_MOUNTS.includes(workDest)) {
    invalid(`workDest: ${workDest} is a private mount of the sandbox`, 'Use a path such as /src.', {
      workDest,
    });
  }
  const hostname = spec.variant?.hostname ?? spec.hostname ?? SANDBOX_PROFILE.hostname;
  if (!HOSTNAME.test(hostname))
    invalid(
      `hostname ${JSON.stringify(hostname)} is not a valid host name`,
      'Use letters, digits and "-" (at most 63).',
      { hostname },
    );
  if (!Number.isSafeInteger(spec.sourceDateEpoch) || spec.sourceDateEpoch < 0) {
    invalid(
      `sourceDateEpoch ${spec.sourceDateEpoch} is not a non-negative integer`,
      'Pass whole seconds since 1970-01-01T00:00:00Z.',
      { sourceDateEpoch: spec.sourceDateEpoch },
    );
  }
  if (spec.command.includes('\0'))
    invalid('command contains a NUL byte', 'Remove the NUL byte from the command.', {});
  checkEnv(spec.env, 'env', RESERVED_ENV);
  checkEnv(spec.variant?.extraEnv ?? {}, 'variant.extraEnv', []);

  if (spec.rootfs !== undefined) {
    if (rootfs === undefined)
      invalid(
        'rootfs is set but its layout was not read',
        'Call runInSandbox, or pass readRootfsLayout(spec.rootfs) to bwrapArgs.',
        { rootfs: spec.rootfs },
      );
    if (spec.tools.length > 0)
      invalid(
        'host tools cannot be bound into an image root',
        'Install the tools in the toolchain image instead of declaring host tools.',
        { tools: spec.tools.map((t) => t.name) },
      );
  }
  const tools = sortByBytes(spec.tools, (t) => t.name);
  tools.forEach((tool, i) => {
    if (!TOOL_NAME.test(tool.name) || tool.name === '..')
      invalid(
        `tool name ${JSON.stringify(tool.name)} is not a plain file name`,
        'Name tools like "node" or "gcc-12": no "/" and no leading ".".',
        { name: tool.name },
      );
    if (i > 0 && tools[i - 1]!.name === tool.name)
      invalid(`tool ${tool.name} is declared twice`, 'Declare each tool once.', {
        name: tool.name,
      });
  });

  const inputs = sortByBytes(
    spec.inputs.map((input) => ({
      source: input.source,
      at: inputMountPoint(input.dest, workDest),
    })),
    (i) => i.at,
  );
  // Nested or duplicate mount points would make the result depend on mount order.
  inputs.forEach((input, i) => {
    const prev = inputs[i - 1];
    if (prev !== undefined && isUnderOrEqual(input.at, prev.at)) {
      invalid(
        `inputs overlap: ${prev.at} and ${input.at}`,
        'Give every input its own destination, none inside another.',
        { first: prev.at, second: input.at },
      );
    }
    if (isUnderOrEqual(workDest, input.at)) {
      invalid(
        `input at ${input.at} would cover the work directory ${workDest}`,
        'Mount inputs below the work directory or beside it.',
        { dest: input.at, workDest },
      );
    }
  });
  if (spec.variant?.reverseInputs === true) inputs.reverse();

  const args = [
    ...ISOLATION_ARGS,
    '--uid',
    String(SANDBOX_PROFILE.user.uid),
    '--gid',
    String(SANDBOX_PROFILE.user.gid),
    '--hostname',
    hostname,
  ];
  if (spec.rootfs !== undefined && rootfs !== undefined) {
    const absolute = inputs.filter((i) => !i.at.startsWith(`${workDest}/`)).map((i) => i.at);
    args.push(...rootfsArgs(rootfs, [workDest, ...absolute]));
  } else {
    for (const dir of [...host.rootDirs].sort(compareBytes)) args.push('--ro-bind', dir, dir);
    for (const link of sortByBytes(host.rootLinks, (l) => l.path))
      args.push('--symlink', link.target, link.path);
    args.push('--perms', '0755', '--dir', '/etc');
    for (const entry of [...host.hostEtc].sort(compareBytes)) args.push('--ro-bind', entry, entry);
  }
  if (host.syntheticEtcDir !== undefined) {
    for (const name of Object.keys(SANDBOX_PROFILE.syntheticEtc).sort(compareBytes)) {
      args.push('--ro-bind', `${host.syntheticEtcDir}/${name}`, `/etc/${name}`);
    }
  }
  for (const file of spec.variant?.etcFiles ?? []) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(file.name)) {
      invalid(
        `variant.etcFiles: ${JSON.stringify(file.name)} is not a plain file name`,
        'Name a file directly in /etc.',
        {
          name: file.name,
        },
      );
    }
    args.push('--ro-bind', file.source, `/etc/${file.name}`);
  }
  const size = (bytes: number | undefined, what: string): string[] => {
    if (bytes === undefined) return [];
    if (!Number.isSafeInteger(bytes) || bytes <= 0)
      invalid(`tmpfsBytes.${what} ${bytes} is not a positive whole number`, 'Pass bytes.', {
        [what]: bytes,
      });
    return ['--size', String(bytes)];
  };
  args.push(
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--perms',
    '01777',
    ...size(spec.tmpfsBytes?.tmp, 'tmp'),
    '--tmpfs',
    SANDBOX_PROFILE.tmp.path,
    '--perms',
    '0755',
    ...size(spec.tmpfsBytes?.home, 'home'),
    '--tmpfs',
    SANDBOX_PROFILE.home.path,
  );
  if (spec.rootfs === undefined) args.push('--perms', '0755', '--dir', SANDBOX_PROFILE.toolsDir);
  for (const tool of tools)
    args.push(
      tool.link === true ? '--symlink' : '--ro-bind',
      tool.path,
      `${SANDBOX_PROFILE.toolsDir}/${tool.name}`,
    );
  args.push('--bind', spec.workDir, workDest);
  for (const input of inputs) args.push('--ro-bind', input.source, input.at);
  args.push('--remount-ro', '/', '--chdir', workDest);
  for (const [name, value] of sandboxEnv(spec)) args.push('--setenv', name, value);
  // Same line as the command so the shell's line numbers match the user's.
  args.push('--', ...SANDBOX_PROFILE.shell, `umask ${SANDBOX_PROFILE.umask}; ${spec.command}`);
  return args;
}

/**
 * The mounts of an image root: every top-level entry of the image bound
 * read-only (symlinks recreated) except those replaced by fresh mounts and the
 * top-level names of the work directory and absolute inputs; an /etc holding
 * the image's entries, the synthetic files excepted. Nothing of the host appears.
 */
function rootfsArgs(rootfs: RootfsLayout, mountPoints: readonly string[]): string[] {
  const skipped = new Set<string>([
    'etc',
    ...IMAGE_ROOT_PROFILE.replaced.map((p) => p.slice(1)),
    ...mountPoints.map((p) => p.split('/')[1] ?? ''),
  ]);
  const synthetic = new Set(Object.keys(SANDBOX_PROFILE.syntheticEtc));
  const args: string[] = [];
  const mount = (dir: string, at: string, e: RootfsLayout['top'][number]): void => {
    if (e.kind === 'symlink') args.push('--symlink', e.target ?? '', `${at}/${e.name}`);
    else args.push('--ro-bind', `${dir}/${e.name}`, `${at}/${e.name}`);
  };
  for (const e of sortByBytes(rootfs.top, (x) => x.name)) {
    if (!skipped.has(e.name)) mount(rootfs.path, '', e);
  }
  args.push('--perms', '0755', '--dir', '/etc');
  for (const e of sortByBytes(rootfs.etc, (x) => x.name)) {
    if (!synthetic.has(e.name)) mount(`${rootfs.path}/etc`, '/etc', e);
  }
  return args;
}
