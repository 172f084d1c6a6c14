/**
 * The launcher every sandbox is started through: a few lines of perl (perl-base
 * is essential on Debian) between Node and bwrap. It guarantees that
 *
 * - only descriptors 0 to `keep` reach bwrap (0-2, the status pipe, the
 *   seccomp program, all of Airlock's choosing): whatever else the process
 *   running Airlock inherited (a shell's `exec 200</`, a CI runner's pipes) is
 *   closed before exec, because libuv passes inherited descriptors without
 *   close-on-exec through to every child;
 * - when Airlock dies, even by SIGKILL, nothing it started stays behind: the
 *   launcher is a child subreaper with a parent-death signal, so it learns of
 *   the death, kills bwrap and every process orphaned to it, and exits.
 *   bwrap's own --die-with-parent is not enough: its sandbox child sets its
 *   parent-death signal only after its setup, so when bwrap dies in that
 *   window the child lives on, re-parented to pid 1 — blocked forever on the
 *   eventfd bwrap never released, or running the whole step unsupervised.
 *   SIGTERM does the same cleanup, which is how a step is aborted.
 *
 * - with a staging plan (see `StagingPlan`), the sandbox learns no host path:
 *   before anything else the launcher enters a private mount namespace (and,
 *   when not root, a user namespace mapping only its own uid) and mounts an
 *   overlay over each hidden directory and over the work directory. The root
 *   field of /proc/self/mountinfo is the path of a bind's source inside its
 *   filesystem, which no bind can change; through an overlay that filesystem
 *   is the overlay, whose root is the hidden directory itself, and its layers
 *   are named by descriptor (`lowerdir=/proc/self/fd/5`), not by path. Nothing
 *   is copied; bwrap's arguments stay the same.
 *
 * Only builtins are used (no `use POSIX`): startup stays near 3 ms. Syscall
 * numbers are passed in because they differ by architecture.
 */
export const LAUNCHER_SCRIPT = `
my ($prctl, $close, $ppid, $keep, $umask, $hide, @cmd) = @ARGV;
my ($pid, $mount) = (0, 0);
sub mnt {
  # syscall() may write through its string arguments: pass copies, never literals.
  my ($target, $flags, $data, $source, $type) = (@_, 'airlock', 'overlay');
  syscall($mount + 0, $source, $target, $type, $flags, $data) == 0
    or die "airlock launcher: cannot mount an overlay over $target: $!\\n";
}
sub opendirfd {
  open(my $fh, '<', $_[0]) or die "airlock launcher: $_[0]: $!\\n";
  return $fh;
}
if ($hide ne '-') {
  # unshare syscall, mount syscall, work dir (or -), empty dir, overlay work dir, hidden dirs.
  my ($unshare, $work, $empty, $ovlwork);
  ($unshare, $mount, $work, $empty, $ovlwork) = splice(@cmd, 0, 5);
  my @dirs = splice(@cmd, 0, $hide);
  my ($uid, $gid) = ($<, $( + 0);
  # CLONE_NEWNS, plus CLONE_NEWUSER when mounting needs a namespace of our own.
  syscall($unshare + 0, 0x20000 | ($uid == 0 ? 0 : 0x10000000)) == 0
    or die "airlock launcher: cannot enter a private mount namespace: $!\\n";
  if ($uid != 0) {
    for (['setgroups', 'deny'], ['uid_map', "0 $uid 1"], ['gid_map', "0 $gid 1"]) {
      open(my $f, '>', "/proc/self/$_->[0]") or die "airlock launcher: $_->[0]: $!\\n";
      print $f $_->[1];
      close $f or die "airlock launcher: $_->[0]: $!\\n";
    }
  }
  # MS_REC | MS_PRIVATE on /: none of this reaches the host.
  my ($none, $root) = ('none', '/');
  syscall($mount + 0, $none, $root, 0, 0x44000, 0) == 0
    or die "airlock launcher: cannot make the mounts private: $!\\n";
  # The empty layer is a fresh read-only tmpfs: an empty host directory inside a
  # hidden one would overlap it (ELOOP), e.g. with the store inside the project.
  my ($tmpfs, $mode) = ('tmpfs', 'mode=0755');
  syscall($mount + 0, $tmpfs, $empty, $tmpfs, 7, $mode) == 0
    or die "airlock launcher: cannot mount an empty tmpfs over $empty: $!\\n";
  # Every descriptor before any overlay: a hidden directory may hold the work directory.
  my $e = opendirfd($empty);
  my @low = map { opendirfd($_) } @dirs;
  my ($u, $w) = $work eq '-' ? () : (opendirfd($work), opendirfd($ovlwork));
  my $fd = sub { '/proc/self/fd/' . fileno($_[0]) };
  my $lower2 = ':' . $fd->($e);
  # MS_RDONLY | MS_NOSUID | MS_NODEV; overlay wants two layers when read-only.
  mnt($dirs[$_], 7, 'lowerdir=' . $fd->($low[$_]) . $lower2) for 0 .. $#dirs;
  # volatile: no sync of the whole upper filesystem when the overlay goes away
  # (Airlock hashes and fsyncs what it keeps itself); needs a fresh workdir each
  # time. With an empty lower layer no feature that tracks lower files is needed,
  # and leaving them off spares the mount their checks.
  mnt($work, 6, 'lowerdir=' . $fd->($e) . ',upperdir=' . $fd->($u) . ',workdir=' . $fd->($w) . ',volatile,index=off,xino=off,metacopy=off,uuid=off' . ($uid == 0 ? '' : ',userxattr')) if defined $u;
  close $_ for $e, @low, grep { defined } $u, $w;
}
sub children {
  if (open(my $f, '<', "/proc/$$/task/$$/children")) {
    my $s = <$f> // '';
    close $f;
    return split ' ', $s;
  }
  my @c;
  opendir(my $d, '/proc') or return ();
  for my $n (readdir $d) {
    next unless $n =~ /^[0-9]+$/;
    open(my $f, '<', "/proc/$n/stat") or next;
    my $s = <$f>;
    close $f;
    push @c, $n if defined $s && $s =~ /\\) \\S+ ([0-9]+) / && $1 == $$;
  }
  closedir $d;
  return @c;
}
sub reap {
  @SIG{qw(HUP TERM INT)} = ('IGNORE') x 3;
  kill 'KILL', $pid if $pid > 0;
  for (;;) {
    my $w = waitpid(-1, 1);
    last if $w == -1;
    next if $w > 0;
    kill 'KILL', children();
    waitpid(-1, 0);
  }
}
@SIG{qw(HUP TERM INT)} = (sub { reap(); exit 137 }) x 3;
syscall($prctl + 0, 36, 1) == 0 or die "airlock launcher: PR_SET_CHILD_SUBREAPER failed: $!\\n";
syscall($prctl + 0, 1, 1) == 0 or die "airlock launcher: PR_SET_PDEATHSIG failed: $!\\n";
exit 137 if getppid() != $ppid;
opendir(my $fds, '/proc/self/fd') or die "airlock launcher: /proc/self/fd: $!\\n";
my @extra = grep { /^[0-9]+$/ && $_ > $keep } readdir $fds;
closedir $fds;
syscall($close + 0, $_ + 0) for @extra;
umask(oct($umask)) if $umask ne '-';
$pid = fork() // die "airlock launcher: fork: $!\\n";
if ($pid == 0) {
  @SIG{qw(HUP TERM INT)} = ('DEFAULT') x 3;
  exec { $cmd[0] } @cmd;
  print STDERR "airlock launcher: exec $cmd[0]: $!\\n";
  exit 127;
}
my $status;
for (;;) { if (waitpid($pid, 0) == $pid) { $status = $?; last } }
$pid = 0;
reap();
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
`;

/** The syscall numbers the launcher uses. */
export interface LauncherSyscalls {
  prctl: number;
  close: number;
  unshare: number;
  mount: number;
}

/** Linux syscall numbers the launcher needs, by Node's `process.arch`. */
const SYSCALLS: Readonly<Record<string, LauncherSyscalls>> = {
  x64: { prctl: 157, close: 3, unshare: 272, mount: 165 },
  arm64: { prctl: 167, close: 57, unshare: 97, mount: 40 },
  riscv64: { prctl: 167, close: 57, unshare: 97, mount: 40 },
  ia32: { prctl: 172, close: 6, unshare: 310, mount: 21 },
  arm: { prctl: 172, close: 6, unshare: 337, mount: 21 },
  ppc64: { prctl: 171, close: 6, unshare: 282, mount: 21 },
  s390x: { prctl: 172, close: 6, unshare: 303, mount: 21 },
};

/** The syscall numbers the launcher needs on `arch`, or undefined where Airlock does not know them. */
export function launcherSyscalls(arch: string): LauncherSyscalls | undefined {
  return SYSCALLS[arch];
}

/**
 * What the launcher mounts in its private mount namespace before bwrap starts,
 * so that bwrap binds every host path through an overlay (see the script).
 */
export interface StagingPlan {
  /** Host directories each covered by a read-only overlay of itself; none inside another. */
  hidden: readonly string[];
  /** The work directory, covered by a writable overlay whose upper layer is itself. */
  workDir: string;
  /** An empty directory: the mount point of the empty tmpfs that is every overlay's lowest layer. */
  emptyDir: string;
  /** A fresh empty directory beside `workDir`, on the same filesystem (overlay's own work directory; never reused). */
  overlayWorkDir: string;
}

/**
 * The argv (after the perl binary) that runs `file args…` through the
 * launcher, for a parent with pid `ppid`, passing on descriptors 0 to `keep`,
 * with the umask `umask` (default: inherited unchanged) and, with `staging`,
 * in a private mount namespace that hides the host paths.
 */
export function launcherArgs(
  syscalls: LauncherSyscalls,
  ppid: number,
  file: string,
  args: readonly string[],
  keep = 3,
  umask?: number,
  staging?: StagingPlan,
): string[] {
  if (umask !== undefined && !(Number.isInteger(umask) && umask >= 0 && umask <= 0o777)) {
    throw new RangeError(`umask must be an integer in [0, 0o777], got ${umask}`);
  }
  const stage =
    staging === undefined
      ? ['-']
      : [
          String(staging.hidden.length),
          String(syscalls.unshare),
          String(syscalls.mount),
          staging.workDir,
          staging.emptyDir,
          staging.overlayWorkDir,
          ...staging.hidden,
        ];
  return [
    '-e',
    LAUNCHER_SCRIPT,
    '--',
    String(syscalls.prctl),
    String(syscalls.close),
    String(ppid),
    String(keep),
    umask === undefined ? '-' : `0${umask.toString(8)}`,
    ...stage,
    file,
    ...args,
  ];
}
