import type { AuditEventData, AuditFilter, AuditRecord } from '../audit/index.js';
import { compareBytes } from '../core/compare.js';
import type { EventSink } from '../core/events.js';
import { Store, defaultStoreRoot } from '../store/index.js';
import {
  AUDIT_EVENT_TYPES,
  openAuditLog,
  runAuditVerify,
  type AuditVerifyReport,
  type CheckpointSigning,
} from './audit.js';
import { auditDeployments } from './lineage.js';

/*
 * The dashboard's pages over the audit log: the log itself with the chain's
 * verification, and the environments as the deploy events recorded them
 * (what runs in each region, its weights, drift, and every gate of every
 * rollout step over time). Rollback from the dashboard goes through the
 * deploy use-case and is recorded with the dashboard as the actor.
 */

export interface DashboardAuditRequest {
  store?: string | undefined;
  /** At most this many entries, the newest (default 500). */
  limit?: number | undefined;
  /** Only the entries `airlock audit log` would list with the same --type, --since and --target. */
  filter?: AuditFilter | undefined;
  events: EventSink;
}

export interface DashboardAuditReport {
  /** What `airlock audit verify --json` says about the whole chain. */
  verify: AuditVerifyReport;
  /** How many entries match the filter. */
  total: number;
  /** Every event type, for the filter. */
  types: readonly string[];
  /** The newest entries, newest first. */
  entries: AuditRecord[];
}

/** The audit log's newest entries and the verification of its whole chain. */
export async function dashboardAudit(req: DashboardAuditRequest): Promise<DashboardAuditReport> {
  const verify = await runAuditVerify({ store: req.store, events: req.events });
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events: req.events });
  try {
    const log = openAuditLog(store);
    try {
      const all = log.list(req.filter ?? {});
      const limit = req.limit ?? 500;
      return {
        verify,
        total: all.length,
        types: AUDIT_EVENT_TYPES,
        entries: all.slice(-limit).reverse(),
      };
    } finally {
      log.close();
    }
  } finally {
    store.close();
  }
}

/** One gate reading of a rollout step, for the charts. */
export interface GatePoint {
  time: number;
  region?: string;
  step: number;
  artifact: string;
  name: string;
  value: number | null;
  threshold: number;
  pass: boolean;
  decision: string;
}

export interface DashboardRegion {
  name: string;
  /** The digests running there (two during a canary). */
  running: string[];
  /** Traffic weight per digest in percent, from the latest rollout step. */
  weights?: Record<string, number>;
  /** The latest drift recorded for the region, when there was one after the last deploy. */
  drift?: { expected: string; running: string[]; time: number };
}

export interface DashboardEnvironment {
  name: string;
  regions: DashboardRegion[];
  /** Every gate of every rollout step, oldest first. */
  gates: GatePoint[];
  /** The latest rollbacks, newest first: who or what, and why. */
  rollbacks: (AuditEventData['deploy.rollback'] & { time: number; actor: string })[];
}

/** Environments, regions and rollouts as the audit log's deploy events tell them. */
export async function dashboardEnvironments(req: {
  store?: string | undefined;
  events: EventSink;
}): Promise<{ environments: DashboardEnvironment[] }> {
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events: req.events });
  try {
    const log = openAuditLog(store);
    try {
      const envs = new Map<string, DashboardEnvironment>();
      const env = (name: string): DashboardEnvironment => {
        let e = envs.get(name);
        if (!e) envs.set(name, (e = { name, regions: [], gates: [], rollbacks: [] }));
        return e;
      };
      const region = (e: DashboardEnvironment, name: string): DashboardRegion => {
        let r = e.regions.find((x) => x.name === name);
        if (!r) e.regions.push((r = { name, running: [] }));
        return r;
      };
      for (const d of await auditDeployments(log).running()) {
        const r = region(env(d.environment), d.region ?? '(all)');
        r.running.push(d.artifact);
      }
      const deployTypes = ['deploy.step', 'deploy.promotion', 'deploy.rollback', 'deploy.drift'];
      for (const { entry } of log.list({ types: deployTypes as never })) {
        const at = entry.time;
        if (entry.type === 'deploy.step') {
          const d = entry.data;
          const e = env(d.environment);
          const r = region(e, d.region ?? '(all)');
          r.weights = d.weights;
          delete r.drift;
          for (const g of d.gates)
            e.gates.push({
              time: at,
              ...(d.region !== undefined ? { region: d.region } : {}),
              step: d.step,
              artifact: d.artifact,
              name: g.name,
              value: g.value,
              threshold: g.threshold,
              pass: g.pass,
              decision: d.decision,
            });
        } else if (entry.type === 'deploy.promotion' || entry.type === 'deploy.rollback') {
          const r = region(env(entry.data.environment), entry.data.region ?? '(all)');
          delete r.drift;
          // A promotion or rollback leaves one version with all the traffic.
          r.weights = {
            [entry.type === 'deploy.promotion' ? entry.data.artifact : entry.data.to]: 100,
          };
          if (entry.type === 'deploy.rollback') {
            const a = entry.actor;
            env(entry.data.environment).rollbacks.unshift({
              ...entry.data,
              time: at,
              actor: `${a.user}@${a.host}${a.via ? ` via ${a.via}` : ''}`,
            });
          }
        } else if (entry.type === 'deploy.drift') {
          const r = region(env(entry.data.environment), entry.data.region ?? '(all)');
          r.drift = { expected: entry.data.expected, running: entry.data.running, time: at };
        }
      }
      const environments = [...envs.values()].sort((a, b) => compareBytes(a.name, b.name));
      for (const e of environments) e.regions.sort((a, b) => compareBytes(a.name, b.name));
      return { environments };
    } finally {
      log.close();
    }
  } finally {
    store.close();
  }
}

export interface DashboardRollbackRequest {
  project: string;
  store?: string | undefined;
  environment: string;
  region?: string | undefined;
  reason: string;
  /** What acted for the user (the dashboard). */
  via: string;
  /** The password of the key that signs the checkpoint after the rollback. */
  signing?: CheckpointSigning | undefined;
  events: EventSink;
}

/**
 * Rolls an environment (or one region) back through the deploy use-case and
 * records each region's rollback in the audit log, not automatic, by the
 * user through `via`.
 */
export async function dashboardRollback(
  req: DashboardRollbackRequest,
): Promise<{ message: string }> {
  const { runRollback } = await import('./deploy.js');
  // The deploy use-case records each region's rollback, not automatic, by `<via>:<user>`.
  const report = await runRollback({
    project: req.project,
    store: req.store,
    environment: req.environment,
    events: req.events,
    audit: { via: req.via, ...(req.signing ? { signing: req.signing } : {}) },
    reason: req.reason,
    ...(req.region !== undefined ? { region: req.region } : {}),
  });
  return { message: `${report.environment}: ${report.outcome}` };
}
