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
 * Only builtins are used (no `use POSIX`): startup stays near 3 ms. Syscall
 * numbers are passed in because they differ by architecture.
 */
export const LAUNCHER_SCRIPT = `
my ($prctl, $close, $ppid, $keep, $umask, @cmd) = @ARGV;
my $pid = 0;
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

/** Linux syscall numbers of prctl and close, by Node's `process.arch`. */
const SYSCALLS: Readonly<Record<string, { prctl: number; close: number }>> = {
  x64: { prctl: 157, close: 3 },
  arm64: { prctl: 167, close: 57 },
  riscv64: { prctl: 167, close: 57 },
  ia32: { prctl: 172, close: 6 },
  arm: { prctl: 172, close: 6 },
  ppc64: { prctl: 171, close: 6 },
  s390x: { prctl: 172, close: 6 },
};

/** The syscall numbers the launcher needs on `arch`, or undefined where Airlock does not know them. */
export function launcherSyscalls(arch: string): { prctl: number; close: number } | undefined {
  return SYSCALLS[arch];
}

/**
 * The argv (after the perl binary) that runs `file args…` through the
 * launcher, for a parent with pid `ppid`, passing on descriptors 0 to `keep`,
 * with the umask `umask` (default: inherited unchanged).
 */
export function launcherArgs(
  syscalls: { prctl: number; close: number },
  ppid: number,
  file: string,
  args: readonly string[],
  keep = 3,
  umask?: number,
): string[] {
  if (umask !== undefined && !(Number.isInteger(umask) && umask >= 0 && umask <= 0o777)) {
    throw new RangeError(`umask must be an integer in [0, 0o777], got ${umask}`);
  }
  return [
    '-e',
    LAUNCHER_SCRIPT,
    '--',
    String(syscalls.prctl),
    String(syscalls.close),
    String(ppid),
    String(keep),
    umask === undefined ? '-' : `0${umask.toString(8)}`,
    file,
    ...args,
  ];
}
