import { join } from 'node:path';
import { AuditLog } from '../audit/log.js';
import { systemClock } from '../core/clock.js';
import { appendBuildEvents, gitState } from './audit-build.js';
import { auditActor, auditTail, checkpointDue } from './audit-env.js';
import type { StampHeader } from './build-stamp.js';

/**
 * What a no-op build records, for a run whose build stamp matched: one
 * `build` event per target (a cache hit each) in one transaction, with the
 * git state read now, exactly as the build itself would append them.
 * Returns false, having written nothing, when the run must build after all:
 * HEAD moved since the stamp, or a checkpoint would be due (the build makes
 * it), or the log cannot be read.
 */
export async function recordStampedNoop(
  header: StampHeader,
  store: string,
  startedAt: number,
): Promise<boolean> {
  const g = await gitState(header.root).catch(() => undefined);
  if (g === undefined || (g.commit ?? null) !== header.commit) return false;
  let log: AuditLog;
  try {
    log = AuditLog.open(join(store, 'airlock', 'v1', 'audit.sqlite'));
  } catch {
    return false;
  }
  try {
    const now = systemClock.now();
    const tail = auditTail(log);
    const after = {
      head: tail.head + header.audit.targets.length,
      covered: tail.covered,
      since: tail.head > tail.covered ? tail.since : now,
    };
    if (checkpointDue(after, now, header.audit.schedule) !== undefined) return false;
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
    );
    return true;
  } finally {
    log.close();
  }
}
