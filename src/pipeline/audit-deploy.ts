import type { Digest } from '../core/digest.js';
import type { EventSink } from '../core/events.js';
import type { DeployEvent, DeployEventSink, GateSample } from '../deploy/index.js';
import type { Store } from '../store/index.js';
import { auditActor, recordAudit, type AuditEnv } from './audit.js';

/** Who drives the deploy events a sink records. */
export interface DeployAuditOptions {
  /** A rollback by hand (`airlock rollback`, `deploy --abort`, the dashboard) rather than by a gate. */
  manual: boolean;
  /** The digest serving a region's stable traffic before the rollout moved it. */
  stableOf: (region: string) => Digest | null;
  audit?: AuditEnv | undefined;
  /** Where a failure to record is reported: the deploy goes on (a rollback is never held up by the log). */
  log: EventSink;
}

interface PendingStep {
  step: number;
  weights: Record<string, number>;
  gates: GateSample[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Wraps `next` so that every deploy event also lands in the audit log as the
 * audit schema's deploy events: a step (weights, every gate's value against
 * its threshold, the decision) once its gates are read and decided, each
 * promotion, each rollback (automatic or by whom, why), and each drift found.
 */
export function auditDeploySink(
  store: Store,
  opts: DeployAuditOptions,
  next: DeployEventSink,
): DeployEventSink {
  let artifact: Digest | undefined;
  const started = new Map<string, Digest>();
  const pending = new Map<string, PendingStep>();
  const record = (event: Parameters<typeof recordAudit>[1]): void => {
    try {
      recordAudit(store, event, opts.audit ?? {});
    } catch (e) {
      opts.log({
        type: 'log',
        level: 'warn',
        message: `audit log: could not record ${event.type}: ${(e as Error).message}`,
      });
    }
  };
  const flush = (
    environment: string,
    region: string,
    decision: 'continue' | 'promote' | 'pause' | 'rollback',
  ): void => {
    const p = pending.get(region);
    const digest = started.get(region) ?? artifact;
    pending.delete(region);
    if (p === undefined || digest === undefined) return;
    const previous = opts.stableOf(region);
    record({
      type: 'deploy.step',
      data: {
        environment,
        region,
        artifact: digest,
        ...(previous !== null && previous !== digest ? { previous } : {}),
        step: p.step,
        weights: p.weights,
        gates: p.gates.map((g) => ({
          name: g.gate,
          value: g.value,
          threshold: g.threshold.max ?? g.threshold.min ?? 0,
          op: g.threshold.max !== undefined ? '<=' : '>=',
          pass: g.verdict === 'pass',
        })),
        decision,
      },
    });
  };
  return (e: DeployEvent) => {
    switch (e.kind) {
      case 'deploy.verified':
        artifact = e.artifact;
        break;
      case 'deploy.started':
        started.set(e.region, e.digest);
        break;
      case 'deploy.step': {
        flush(e.environment, e.region, 'continue');
        const digest = started.get(e.region) ?? artifact ?? 'new';
        const stable = opts.stableOf(e.region);
        pending.set(e.region, {
          step: e.step,
          weights: {
            [digest]: e.weights.canary,
            ...(stable !== null && stable !== digest ? { [stable]: e.weights.stable } : {}),
          },
          gates: [],
        });
        break;
      }
      case 'deploy.gate':
        pending.get(e.sample.region)?.gates.push(e.sample);
        break;
      case 'deploy.promoted':
        flush(e.environment, e.region, 'promote');
        record({
          type: 'deploy.promotion',
          data: {
            environment: e.environment,
            region: e.region,
            artifact: e.digest,
            ...(e.previous !== null ? { previous: e.previous } : {}),
          },
        });
        break;
      case 'deploy.paused':
        flush(e.environment, e.region, 'pause');
        break;
      case 'deploy.rollback':
        flush(e.environment, e.region, 'rollback');
        // A region with no earlier version has nothing to go back to: the step records the decision.
        if (e.to !== null)
          record({
            type: 'deploy.rollback',
            data: {
              environment: e.environment,
              region: e.region,
              from: e.from,
              to: e.to,
              automatic: !opts.manual,
              ...(opts.manual ? { by: byOf(opts.audit) } : {}),
              reason: e.reason,
            },
          });
        break;
      case 'deploy.done':
        for (const region of [...pending.keys()]) flush(e.environment, region, 'continue');
        break;
      case 'deploy.drift':
        if (e.expected !== null)
          record({
            type: 'deploy.drift',
            data: {
              environment: e.environment,
              region: e.region,
              expected: e.expected,
              running: e.actual !== null && DIGEST.test(e.actual) ? [e.actual] : [],
            },
          });
        break;
      default:
        break;
    }
    next(e);
  };
}

/** `user` or `<via>:<user>` (the dashboard acts for a user). */
function byOf(audit: AuditEnv | undefined): string {
  const a = auditActor(audit ?? {});
  return a.via !== undefined ? `${a.via}:${a.user}` : a.user;
}
