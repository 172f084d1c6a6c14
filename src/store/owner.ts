import { readFileSync } from 'node:fs';
import { errnoCode } from '../core/index.js';

/*
 * Owned temp directories, format v1: the owning process is in the name,
 *
 *   <store>/tmp/work-4711.8123456-Xa9b2c
 *                    pid  start time (clock ticks since boot, /proc/<pid>/stat field 22)
 *
 * so a later process can tell a dead owner's directory (no such pid, or the
 * pid now belongs to a process that started at another time) from a live one.
 */

const OWNED = /^([a-z]+)-(\d+)\.(\d+)-[A-Za-z0-9]{6}$/;

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

/** The name prefix of a temp directory owned by this process: `<prefix>-<pid>.<start>-`. */
export function ownedPrefix(prefix: string): string {
  let start: string | undefined;
  try {
    start = processStartTime(process.pid);
  } catch {
    start = undefined;
  }
  // Without /proc the owner cannot be checked later: the name says so and the directory is left to gc.
  return start === undefined ? `${prefix}-unowned-` : `${prefix}-${process.pid}.${start}-`;
}

/**
 * True when `name` is an owned temp directory whose owner is gone: its pid
 * does not exist or started at another time. Unknown names and owners that
 * cannot be checked count as alive.
 */
export function ownerIsDead(name: string): boolean {
  const m = OWNED.exec(name);
  if (m === null) return false;
  try {
    const start = processStartTime(Number(m[2]));
    return start !== m[3];
  } catch {
    return false;
  }
}

/** True when `name` is an owned temp directory whose owner is still running (never removed by age). */
export function ownerIsAlive(name: string): boolean {
  const m = OWNED.exec(name);
  if (m === null) return false;
  try {
    return processStartTime(Number(m[2])) === m[3];
  } catch {
    return true;
  }
}
