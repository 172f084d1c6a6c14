import { readFileSync, readlinkSync } from 'node:fs';
import { errnoCode } from '../core/index.js';

/*
 * Owned temp directories, format v1: the owning process is in the name,
 *
 *   <store>/tmp/work-4711.8123456.4026531836-Xa9b2c
 *                    pid  start     pid namespace (inode of /proc/self/ns/pid)
 *                         time: clock ticks since boot, /proc/<pid>/stat field 22
 *
 * so a later process in the same pid namespace can tell a dead owner's
 * directory (no such pid, or the pid now belongs to a process that started
 * at another time) from a live one. A directory of another namespace (a
 * build in another container sharing the store) is never judged: its pid
 * means nothing here, so it is left to gc's age rule.
 */

const OWNED = /^([a-z]+)-(\d+)\.(\d+)\.(\d+)-[A-Za-z0-9]{6}$/;

/** The start time of process `pid` (field 22 of /proc/<pid>/stat), or undefined when it does not exist. */
export function processStartTime(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ESRCH') return undefined;
    throw err;
  }
  // Field 2 (comm) is in parentheses and may hold spaces or ')': split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return fields[22 - 3];
}

/** The inode number of this process's pid namespace, or undefined without /proc. */
export function pidNamespace(): string | undefined {
  try {
    return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}

/** The name prefix of a temp directory owned by this process: `<prefix>-<pid>.<start>.<ns>-`. */
export function ownedPrefix(prefix: string): string {
  let start: string | undefined;
  try {
    start = processStartTime(process.pid);
  } catch {
    start = undefined;
  }
  const ns = pidNamespace();
  // Without /proc the owner cannot be checked later: the name says so and the directory is left to gc.
  return start === undefined || ns === undefined
    ? `${prefix}-unowned-`
    : `${prefix}-${process.pid}.${start}.${ns}-`;
}

/** 'dead', 'alive', or undefined when `name` is not an owned directory this process can judge. */
function ownerState(name: string): 'dead' | 'alive' | undefined {
  const m = OWNED.exec(name);
  if (m === null || m[4] !== pidNamespace()) return undefined;
  try {
    return processStartTime(Number(m[2])) === m[3] ? 'alive' : 'dead';
  } catch {
    return 'alive';
  }
}

/**
 * True when `name` is an owned temp directory whose owner is gone: its pid
 * does not exist or started at another time. Unknown names, other
 * namespaces and owners that cannot be checked count as alive.
 */
export function ownerIsDead(name: string): boolean {
  return ownerState(name) === 'dead';
}

/** True when `name` is an owned temp directory whose owner is still running (never removed by age). */
export function ownerIsAlive(name: string): boolean {
  return ownerState(name) === 'alive';
}
