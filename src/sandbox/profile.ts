import { SECCOMP_POLICY } from './seccomp.js';

/**
 * The sandbox's behaviour as data. It goes into every action key, so any
 * change in what a step can see or how it runs must bump `version`.
 */
export const SANDBOX_PROFILE = {
  version: 'airlock.sandbox/v3',
  runner: 'bubblewrap',
  /** Started through the perl launcher: no inherited descriptor but 0-2, stdin /dev/null; nothing outlives the build. */
  launcher: 'close-inherited-fds, subreaper',
  /** Every bind comes through an overlay of its host directory: /proc/self/mountinfo shows no host path. */
  hostPaths: 'hidden',
  stdin: '/dev/null',
  /** The seccomp filter of seccomp.ts (x86_64 and arm64; none elsewhere). */
  seccomp: SECCOMP_POLICY,
  /** Sockets, FIFOs and devices among the sources are never bound. */
  specialFiles: 'never visible',
  /** Per-target caps (airlock.yaml `timeout`, `limits`): size of /tmp and HOME, step time and log size. */
  limits: 'per-target tmpfs size, step timeout, log and output caps',
  namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts'],
  network: 'none',
  capabilities: 'none',
  nestedUserNamespaces: false,
  user: { name: 'build', uid: 1000, gid: 1000 },
  hostname: 'airlock',
  workDest: '/src',
  home: { path: '/home/build', kind: 'tmpfs' },
  tmp: { path: '/tmp', kind: 'tmpfs' },
  rootfs: 'read-only',
  proc: 'fresh',
  dev: 'fresh',
  shell: ['/bin/sh', '-c'],
  umask: '022',
  toolsDir: '/opt/airlock/bin',
  env: {
    HOME: '/home/build',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    PATH: '/opt/airlock/bin:/usr/local/bin:/usr/bin:/bin',
    TZ: 'UTC',
  },
  sourceDateEpochVar: 'SOURCE_DATE_EPOCH',
  hostToolchain: {
    rootEntries: ['/bin', '/lib', '/lib32', '/lib64', '/libx32', '/sbin', '/usr'],
    etc: ['/etc/alternatives', '/etc/ld.so.cache'],
  },
  syntheticEtc: {
    group: 'root:x:0:\nbuild:x:1000:\nnogroup:x:65534:\n',
    hosts: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
    'nsswitch.conf':
      'passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\nprotocols: files\nservices: files\n',
    passwd:
      'root:x:0:0:root:/root:/bin/sh\nbuild:x:1000:1000:build:/home/build:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  },
} as const;

/** Environment names the declared env may not set: the sandbox fixes them. */
export const RESERVED_ENV: readonly string[] = [
  ...Object.keys(SANDBOX_PROFILE.env),
  SANDBOX_PROFILE.sourceDateEpochVar,
];

/**
 * What changes when the sandbox root is a toolchain image instead of the host
 * (SandboxSpec.rootfs): the image's entries are bound read-only at `/`, its
 * /etc keeps the synthetic files, and no host directory or tool is visible.
 */
export const IMAGE_ROOT_PROFILE = {
  rootfs: 'image-read-only',
  hostToolchain: 'none',
  toolsDir: 'none',
  /** Image entries replaced by fresh mounts (plus the work directory's top-level name). */
  replaced: ['/dev', '/home', '/proc', '/tmp'],
  etc: 'image /etc entries read-only, synthetic group, hosts, nsswitch.conf and passwd over them',
} as const;

/** The profile recorded in an action key: the host profile, or the host profile with the image-root changes. */
export function sandboxProfile(mode: 'host' | 'image'): unknown {
  if (mode === 'host') return SANDBOX_PROFILE;
  // The image fields replace hostToolchain and toolsDir, which mean nothing without the host root.
  return { ...SANDBOX_PROFILE, ...IMAGE_ROOT_PROFILE };
}
