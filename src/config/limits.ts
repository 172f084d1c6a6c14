import type { PathSegment } from './locate.js';
import type { ProblemList } from './problems.js';
import { describeValue } from './problems.js';

/**
 * Per-target limits of airlock.yaml and their defaults:
 *
 *   targets:
 *     web:
 *       timeout: 30m            # per step: 90s, 30m, 2h, or whole seconds
 *       limits:
 *         tmp: 512MiB           # size of the sandbox's /tmp tmpfs
 *         home: 256MiB          # size of the sandbox's HOME tmpfs
 *         outputs: 2GiB         # total size of the target's outputs
 *         log: 64MiB            # what one step may print (stdout + stderr)
 *
 * Sizes are whole bytes or a number with K/M/G/T (powers of 1024; `KiB`,
 * `KB`, `k` all mean the same). None of these enter the action key: they
 * decide whether a step may finish, not what it produces.
 */
export interface TargetLimits {
  /** Seconds one step may run before the whole sandbox is killed. */
  timeoutSeconds: number;
  tmpBytes: number;
  homeBytes: number;
  outputBytes: number;
  logBytes: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** What a target gets when airlock.yaml says nothing. */
export const DEFAULT_LIMITS: Readonly<TargetLimits> = {
  timeoutSeconds: 3600,
  tmpBytes: 1 * GiB,
  homeBytes: 1 * GiB,
  outputBytes: 4 * GiB,
  logBytes: 64 * MiB,
};

/** The keys allowed under `limits:`, mapped to their model field. */
export const LIMIT_KEYS = {
  tmp: 'tmpBytes',
  home: 'homeBytes',
  outputs: 'outputBytes',
  log: 'logBytes',
} as const;

const DURATION = /^(\d+)\s*(s|m|h)$/;
const SIZE = /^(\d+)\s*(?:([KMGT])(?:i?B)?|B)?$/i;
const UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };
const POWER: Readonly<Record<string, number>> = { K: 1, M: 2, G: 3, T: 4 };

/** Seconds for a `timeout:` value, or undefined when it is not a positive duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  const seconds = Number(m[1]) * (UNIT[m[2]!] ?? 1);
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}

/** Bytes for a size value, or undefined when it is not a positive size. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  const unit = m[2] === undefined ? 0 : (POWER[m[2].toUpperCase()] ?? 0);
  const bytes = Number(m[1]) * 1024 ** unit;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** Reports every `timeout:` and `limits:` value of a raw target that cannot be read. */
export function checkLimits(
  problems: ProblemList,
  base: readonly PathSegment[],
  target: Record<string, unknown>,
): void {
  if (target.timeout !== undefined && parseDuration(target.timeout) === undefined) {
    problems.add(
      [...base, 'timeout'],
      'value',
      `"timeout" must be a positive duration, not ${describeValue(target.timeout)}`,
      'write seconds, minutes or hours, e.g. timeout: 30m (or timeout: 90s, timeout: 2h)',
    );
  }
  const limits = target.limits;
  if (limits === undefined) return;
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    problems.add(
      [...base, 'limits'],
      'value',
      `"limits" must be a mapping, not ${describeValue(limits)}`,
      'write it like limits: { tmp: 512MiB, outputs: 2GiB }',
    );
    return;
  }
  for (const key of Object.keys(LIMIT_KEYS)) {
    const value = (limits as Record<string, unknown>)[key];
    if (value === undefined || parseSize(value) !== undefined) continue;
    problems.add(
      [...base, 'limits', key],
      'value',
      `"${key}" must be a positive size, not ${describeValue(value)}`,
      `write bytes or a number with K, M, G or T (powers of 1024), e.g. ${key}: 512MiB`,
    );
  }
}

/** The limits of a target whose raw values passed `checkLimits`, defaults filled in. */
export function targetLimits(timeout: unknown, limits: unknown): TargetLimits {
  const out: TargetLimits = { ...DEFAULT_LIMITS };
  if (timeout !== undefined) out.timeoutSeconds = parseDuration(timeout) ?? out.timeoutSeconds;
  if (typeof limits === 'object' && limits !== null) {
    for (const [key, field] of Object.entries(LIMIT_KEYS)) {
      const bytes = parseSize((limits as Record<string, unknown>)[key]);
      if (bytes !== undefined) out[field] = bytes;
    }
  }
  return out;
}
