import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { launcherArgs, launcherSyscalls } from './launcher.js';

const syscalls = launcherSyscalls(process.arch)!;

/** Pids of processes whose command line contains `needle`. */
function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 10));
}

/** Runs the launcher from a bash parent holding descriptors 7 and 9, with `command` for sh -c. */
function fromBash(command: string, marker = ''): string[] {
  const script = launcherArgs(syscalls, 0, '', [])[1]!;
  return [
    '-c',
    `exec 7</ 9>/dev/null; perl -e "$1" -- ${syscalls.prctl} ${syscalls.close} $$ 3 - - /bin/sh -c "$2" ${marker}; exit $?`,
    'bash',
    script,
    command,
  ];
}

/** Pids of `sleep <marker>` processes. */
const sleepers = (marker: string): number[] =>
  processesWith(marker).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0');
    } catch {
      return false;
    }
  });

describe('the sandbox launcher', () => {
  it('passes only descriptors 0-3 to the command, whatever its parent inherited', () => {
    const r = spawnSync('/bin/bash', fromBash('ls /proc/self/fd'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    expect(r.stderr).toBe('');
    // 0-3 passed on, 4 is ls's own directory descriptor; 7 and 9 are gone.
    expect(r.stdout.trim().split('\n')).toEqual(['0', '1', '2', '3', '4']);
  });

  it('starts the command with the umask it is given, and leaves it alone when given none', () => {
    const umaskOf = (mask?: number): string =>
      spawnSync('perl', launcherArgs(syscalls, process.pid, '/bin/sh', ['-c', 'umask'], 3, mask), {
        encoding: 'utf8',
      }).stdout.trim();
    expect(umaskOf(0o077)).toBe('0077');
    expect(umaskOf(0o027)).toBe('0027');
    const own = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    expect(umaskOf()).toBe(own);
  });

  it('refuses to start when its parent is already gone', () => {
    const r = spawnSync('perl', launcherArgs(syscalls, 1, '/bin/true', []), { stdio: 'ignore' });
    expect(r.status).toBe(137);
  });

  it('exits with the status of the command and kills what the command left running', () => {
    const marker = `4343.${process.pid}`;
    const r = spawnSync(
      'perl',
      launcherArgs(syscalls, process.pid, '/bin/sh', ['-c', `sleep ${marker} & exit 7`]),
      { stdio: 'ignore' },
    );
    expect(r.status).toBe(7);
    expect(sleepers(marker)).toEqual([]);
  });

  it('kills the command and every orphan when its parent dies by SIGKILL', async () => {
    const marker = `4444.${process.pid}`;
    // The command daemonizes one sleep (setsid) and waits on another.
    const parent = spawn('/bin/bash', fromBash('setsid sleep "$0" & sleep "$0"', marker), {
      stdio: 'ignore',
    });
    await until(() => sleepers(marker).length === 2);
    const exited = new Promise((r) => parent.on('exit', r));
    parent.kill('SIGKILL');
    await exited;
    const deadline = Date.now() + 5000;
    await until(() => sleepers(marker).length === 0 || Date.now() > deadline);
    expect(sleepers(marker)).toEqual([]);
  });
});
