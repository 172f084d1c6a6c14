import type { Clock } from '../core/index.js';

/** Every code a sandbox error carries. */
export type SandboxErrorCode =
  | 'SANDBOX_UNAVAILABLE'
  | 'SANDBOX_FAILED'
  | 'SANDBOX_INVALID_SPEC'
  | 'SANDBOX_TIMEOUT'
  | 'SANDBOX_OUTPUT_LIMIT';

/** One step to run in the sandbox: what it may see, its environment and its command. */
export interface SandboxSpec {
  /** Host scratch directory, bound read-write at `workDest`; steps write outputs here. */
  workDir: string;
  /** Path inside the sandbox of the work directory (default '/src'); the host path never appears inside. */
  workDest?: string;
  /** Read-only bind mounts of declared inputs: host file or directory → path relative to workDest (or absolute inside the sandbox). */
  inputs: { source: string; dest: string }[];
  /**
   * Host directory holding an unpacked image root filesystem (a toolchain
   * image). When set, its entries are the read-only sandbox root instead of the
   * host's /usr, /bin, /lib and /etc; `tools` must then be empty.
   */
  rootfs?: string;
  /**
   * Host-toolchain binaries: each real path bound read-only at
   * /opt/airlock/bin/<name>, which comes first in PATH; with `link`, a symlink
   * there to `path` instead (a launcher inside a package bound at its own path
   * through `inputs`, which must find the files beside it).
   */
  tools: { name: string; path: string; link?: boolean }[];
  /** The declared environment; nothing of the host's environment is passed. */
  env: Record<string, string>;
  /** Seconds since the epoch, exported as SOURCE_DATE_EPOCH. */
  sourceDateEpoch: number;
  /** The sandbox's host name (default 'airlock'). */
  hostname?: string;
  /** Run by /bin/sh -c, after `umask 022`. */
  command: string;
  /** Variations used by `airlock repro`: reverse mount order, extra env such as LD_PRELOAD of libfaketime + FAKETIME, other hostname. */
  variant?: {
    reverseInputs?: boolean;
    extraEnv?: Record<string, string>;
    hostname?: string;
    /** Extra read-only files at /etc/<name> (e.g. ld.so.preload + faketimerc: a shifted clock the step cannot see in its environment). */
    etcFiles?: { name: string; source: string }[];
    /**
     * The environment bwrap itself is started with (host-side noise such as
     * LANG or TZ); the profile's --clearenv must keep all of it from the step.
     * Default: empty. Never the Airlock process's own environment.
     */
    hostEnv?: Record<string, string>;
    /**
     * The umask bwrap and the sandbox start with (set by the launcher, e.g.
     * 0o077), before the step's shell sets the profile's umask. Default: the
     * Airlock process's. The process's own umask is never changed.
     */
    umask?: number;
  };
  /** Receives output as it arrives; the same bytes are also returned in the result. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** Aborting kills the whole sandbox and rejects with SANDBOX_FAILED. */
  signal?: AbortSignal;
  /** Past this many milliseconds the whole sandbox is killed and the run rejects with SANDBOX_TIMEOUT (default: no limit). */
  timeoutMs?: number;
  /** Past this many bytes of stdout + stderr the whole sandbox is killed and the run rejects with SANDBOX_OUTPUT_LIMIT (default: no limit). */
  maxOutputBytes?: number;
  /** Size caps in bytes of the /tmp and HOME tmpfs (default: the kernel's, half of memory). */
  tmpfsBytes?: { tmp?: number; home?: number };
  /** Measures `durationMs` (default: the system clock). */
  clock?: Clock;
}

/** What a finished step reports. */
export interface SandboxResult {
  /** The step's exit status; 128+n when it was killed by signal n. */
  exitCode: number;
  /** The signal that killed the step (derived from an exit status above 128), or null. */
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
}

/**
 * What the host contributes to every sandbox: found once per process by
 * `prepareSandboxHost`, passed to the pure `bwrapArgs`.
 */
export interface SandboxHost {
  /** Top-level host entries that are symlinks on merged-/usr systems (`/bin` → `usr/bin`), recreated with --symlink. */
  rootLinks: { path: string; target: string }[];
  /** Top-level host directories bound read-only (always `/usr`, plus `/lib64` etc. where they are real directories). */
  rootDirs: string[];
  /** Host /etc entries bound read-only at the same path (ld.so.cache, alternatives/) that exist on this host. */
  hostEtc: string[];
  /** Private directory holding the synthetic passwd, group, hosts and nsswitch.conf; omitted → those files are absent. */
  syntheticEtcDir?: string;
}

/** One top-level entry of an image root (or of its /etc), as `bwrapArgs` mounts it. */
export interface RootfsEntry {
  name: string;
  kind: 'dir' | 'file' | 'symlink';
  /** The link target, for symlinks. */
  target?: string;
}

/** What an image root holds at its top level and in /etc: read by `runInSandbox`, used by the pure `bwrapArgs`. */
export interface RootfsLayout {
  /** Real host path of the root. */
  path: string;
  top: RootfsEntry[];
  /** Entries of its /etc (empty when /etc is not a real directory). */
  etc: RootfsEntry[];
}
