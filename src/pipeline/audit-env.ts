import { hostname, userInfo } from 'node:os';
import type { AuditActor, AuditLog } from '../audit/index.js';
import { defaultAuditConfig, type AuditConfig } from '../config/audit.js';
import type { Clock } from '../core/clock.js';

/*
 * Who acts, for the audit log. Apart from audit.ts (which loads the signing
 * and registry code for checkpoints and export) so that a build can name its
 * actor without loading them.
 */

/** Who acts and when, for the audit log; injected (tests, the dashboard). */
export interface AuditEnv {
  /** Default: the store's clock. */
  clock?: Clock;
  /** Default: the OS user ($USER when the OS has no name for the uid). */
  user?: string;
  /** Default: the host name. */
  host?: string;
  /** What acted for the user (e.g. `dashboard`). */
  via?: string;
  /** How checkpoints due after this use-case are signed (see `checkpointIfDue`). */
  signing?: CheckpointSigning;
}

/** The key that signs a checkpoint when one is due. */
export interface CheckpointSigning {
  /** The cosign-format private key file (default: `audit.signingKey` in airlock.yaml). */
  key?: string | undefined;
  /** Its password (the CLI reads AIRLOCK_PASSWORD or COSIGN_PASSWORD); without one, a warning instead of a checkpoint. */
  password?: string | undefined;
}

/** Where the log's head is against its last checkpoint (what decides whether one is due). */
export interface AuditTail {
  head: number;
  /** The last entry a checkpoint noted by this store covers (0: none). */
  covered: number;
  /** When that checkpoint was made, or (without one) when the first uncovered entry was written. */
  since: number | undefined;
}

/** The tail of an open log. */
export function auditTail(log: AuditLog): AuditTail {
  const head = log.head().seq;
  const last = log.lastCheckpoint();
  return {
    head,
    covered: last?.seq ?? 0,
    since: last?.time ?? log.timeOf((last?.seq ?? 0) + 1),
  };
}

/** Why no checkpoint is made when one is due and the project has no key. */
export const NO_CHECKPOINT_KEY =
  'no signing key is configured (set audit.signingKey in airlock.yaml to sign checkpoints)';

/** The start of the message that says how much of the log no checkpoint protects. */
export const UNPROTECTED_PREFIX = 'audit: no checkpoint since entry ';

/** The message that says how much of the log no checkpoint protects, and why none was made. */
export function unprotectedMessage(covered: number, head: number, why: string): string {
  return `${UNPROTECTED_PREFIX}${covered}: entries ${covered + 1}–${head} are not protected against a cut-off or rewrite; ${why}`;
}

/** The project's checkpoint schedule (airlock.yaml `audit:`). */
export type CheckpointSchedule = Pick<
  AuditConfig,
  'signingKey' | 'checkpointEntries' | 'checkpointIntervalMs'
>;

/**
 * Why a checkpoint is due (undefined: none is): after a deploy that moved
 * traffic, once `checkpointEntries` entries follow the last checkpoint, or
 * once the last one (or, with none, the oldest entry it would cover) is
 * `checkpointIntervalMs` old. Pure, so a build decides it without loading the
 * signing code.
 */
export function checkpointDue(
  tail: AuditTail,
  now: number,
  schedule: CheckpointSchedule = defaultAuditConfig(),
  moved = false,
): string | undefined {
  const pending = tail.head - tail.covered;
  if (pending <= 0) return undefined;
  if (moved) return 'after a deploy that moved traffic';
  if (schedule.checkpointEntries > 0 && pending >= schedule.checkpointEntries)
    return `${pending} entries since the last checkpoint (every ${schedule.checkpointEntries})`;
  if (
    schedule.checkpointIntervalMs > 0 &&
    tail.since !== undefined &&
    now - tail.since >= schedule.checkpointIntervalMs
  )
    return `${tail.covered > 0 ? 'the last checkpoint' : 'the oldest unprotected entry'} is ${Math.round((now - tail.since) / 60_000)} min old (every ${Math.round(schedule.checkpointIntervalMs / 60_000)} min)`;
  return undefined;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env['USER'] ?? process.env['LOGNAME'] ?? `uid:${process.getuid?.() ?? '?'}`;
  }
}

/** The actor of an event under `env`. */
export function auditActor(env: AuditEnv = {}): AuditActor {
  return {
    user: env.user ?? osUser(),
    host: env.host ?? hostname(),
    ...(env.via ? { via: env.via } : {}),
  };
}
