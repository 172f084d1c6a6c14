import { join } from 'node:path';
import { AuditLog } from '../audit/log.js';
import { systemClock } from '../core/clock.js';
import { appendBuildEvents } from './audit-build.js';
import {
  auditActor,
  auditTail,
  checkpointDue,
  NO_CHECKPOINT_KEY,
  unprotectedMessage,
} from './audit-env.js';
import type { StampHeader } from './build-stamp.js';
import type { GitState } from './git-state.js';

/**
 * What a no-op build records, for a run whose build stamp matched: one
 * `build` event per target (a cache hit each) in one transaction, with the
 * git state read for this run (`git`), exactly as the build itself would append them.
 * When a checkpoint is then due (the project has no key: stamps are never
 * written for one that has), returns the message the build says about it.
 * Returns false, having written nothing, when the run must build after all:
 * HEAD moved since the stamp, a key is configured, or the log cannot be read.
 */
export async function recordStampedNoop(
  header: StampHeader,
  store: string,
  startedAt: number,
  /** The run's PATH (host tools' Debian packages are looked up on it). */
  envPath: string,
  /** The git state of `header.root`, read for this run (gitState; the build daemon starts it early). */
  git: Promise<GitState>,
  phase: (name: string) => void = () => {},
): Promise<{ said?: string } | false> {
  const g = await git.catch(() => undefined);
  phase('git state read');
  if (g === undefined || (g.commit ?? null) !== header.commit) return false;
  let log: AuditLog;
  try {
    log = AuditLog.open(join(store, 'airlock', 'v1', 'audit.sqlite'));
  } catch {
    return false;
  }
  try {
    if (header.audit.schedule.signingKey !== undefined) return false;
    await appendBuildEvents(
      log,
      header.project,
      header.audit.targets.map((target) => ({
        target,
        cached: true,
        startedAt,
        finishedAt: systemClock.now(),
      })),
      g,
      auditActor(),
      envPath,
    );
    // As the build does after appending: a due checkpoint without a key is only said.
    const tail = auditTail(log);
    if (checkpointDue(tail, systemClock.now(), header.audit.schedule) === undefined) return {};
    return { said: unprotectedMessage(tail.covered, tail.head, NO_CHECKPOINT_KEY) };
  } finally {
    log.close();
  }
}
