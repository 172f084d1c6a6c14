import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { loadConfig, REQUESTS_QUERY } from '../config/index.js';
import type { EnvironmentConfig, ProjectConfig, RegionConfig } from '../config/index.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import {
  LABELS,
  abort,
  evaluated,
  haproxyRouter,
  isFinished,
  judgeGate,
  lockEnvironment,
  newRollout,
  nextAction,
  podmanRuntime,
  prometheusSource,
  pushed,
  readState,
  renderQuery,
  resumed,
  rolledBack,
  shifted,
  started,
  verified,
  writeScrapeTargets,
  writeState,
  type DeployErrorCode,
  type DeployEvent,
  type DeployEventSink,
  type EnvironmentState,
  type GateSample,
  type MetricSource,
  type RegionState,
  type RolloutRecord,
  type Router,
  type Runtime,
} from '../deploy/index.js';
import { ociArch } from '../oci/index.js';
import { parseRegistryRef, pushArtifact, resolveLocal } from '../registry/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { Store } from '../store/index.js';
import { clientFor, openStore, type RegistryUseCaseOptions } from './registry-context.js';
import type { AuditEnv } from './audit.js';
import { auditDeploySink } from './audit-deploy.js';

/** The outside world of a deploy, injectable (tests and the library may swap any of them). */
export interface DeployWorld {
  runtime: Runtime;
  router(region: RegionConfig): Router;
  metrics(region: RegionConfig): MetricSource;
  clock: Clock;
  sleep(ms: number): Promise<void>;
}

/** Options every deploy use-case takes. */
export interface DeployOptions extends RegistryUseCaseOptions {
  /** The project directory (or its airlock.yaml); default the current directory. */
  project?: string | undefined;
  environment: string;
  /** Deploy events (steps, gates, promotions, rollbacks, drift) for the terminal, --json and the audit log. */
  onEvent?: DeployEventSink | undefined;
  world?: Partial<DeployWorld> | undefined;
  /** Who is recorded in the audit log as acting (clock, user, host, `via: 'dashboard'`). */
  audit?: AuditEnv | undefined;
}

export interface DeployRequest extends DeployOptions {
  /** A store tag (`shop/web`) or manifest digest. */
  artifact?: string | undefined;
  /** Continue a paused rollout (the paused step's gates are read again). */
  resume?: boolean | undefined;
  /** Roll a paused (or interrupted) rollout back. */
  abort?: boolean | undefined;
}

export interface DeployReport {
  environment: string;
  outcome: 'promoted' | 'rolled-back' | 'refused' | 'paused';
  rollout: RolloutRecord;
}

const defaultWorld = (): DeployWorld => ({
  runtime: podmanRuntime,
  router: (r) => haproxyRouter(r.router.socket, r.router.backend),
  metrics: (r) => prometheusSource(r.metrics.prometheus),
  clock: systemClock,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
});

interface Session {
  req: DeployOptions;
  project: ProjectConfig;
  env: EnvironmentConfig;
  store: Store;
  world: DeployWorld;
  state: EnvironmentState;
  emit: (e: DeployEvent) => void;
  log: EventSink;
  clients: Map<string, Promise<RegistryClient>>;
}

/** Opens project, environment, store and lock; runs `fn`; always releases. */
async function session<T>(
  req: DeployOptions,
  fn: (s: Session) => Promise<T>,
  manual = false,
): Promise<T> {
  const project = await loadConfig(req.project ?? process.cwd());
  const env = project.environments?.get(req.environment);
  if (env === undefined) {
    const known = [...(project.environments?.keys() ?? [])];
    throw new AirlockError<DeployErrorCode>(
      'UNKNOWN_ENVIRONMENT',
      `${project.file} declares no environment "${req.environment}"`,
      {
        hint:
          known.length > 0
            ? `Use one of: ${known.join(', ')}.`
            : 'Declare it under environments: in airlock.yaml (see the README, "Deploy").',
      },
    );
  }
  const store = await openStore(req);
  try {
    const release = await lockEnvironment(store.paths.deploy, env.name);
    try {
      const state = await readState(store.paths.deploy, env.name);
      const log = req.events ?? noEvents;
      // Weights changed (a step or a rollback): the audit log's head gets a signed checkpoint.
      let moved = false;
      const onEvent = req.onEvent ?? (() => {});
      const s: Session = {
        req,
        project,
        env,
        store,
        world: { ...defaultWorld(), ...req.world },
        state,
        // Every step, gate, promotion, rollback and drift is also kept in the audit log.
        emit: auditDeploySink(
          store,
          {
            manual,
            stableOf: (r) => state.regions[r]?.verified ?? null,
            audit: req.audit,
            log,
          },
          (e) => {
            if (e.kind === 'deploy.step' || e.kind === 'deploy.rollback') moved = true;
            onEvent(e);
          },
        ),
        log,
        clients: new Map(),
      };
      for (const r of env.regions) s.state.regions[r.name] ??= emptyRegion(r);
      try {
        return await fn(s);
      } finally {
        const { checkpointAfter } = await import('./audit.js');
        await checkpointAfter(store, project, req.audit, log, moved);
      }
    } finally {
      await release();
    }
  } finally {
    store.close();
  }
}

function emptyRegion(r: RegionConfig): RegionState {
  return {
    stable: null,
    slots: { [r.router.servers[0]]: null, [r.router.servers[1]]: null },
    verified: null,
  };
}

function client(s: Session, region: RegionConfig): Promise<RegistryClient> {
  const host = parseRegistryRef(`${region.repository}:x`).registry;
  let c = s.clients.get(host);
  if (!c) {
    c = clientFor(host, s.req);
    s.clients.set(host, c);
  }
  return c;
}

const repoOf = (region: RegionConfig): string =>
  parseRegistryRef(`${region.repository}:x`).repository;
const isInsecure = (s: Session, region: RegionConfig): boolean => {
  const host = parseRegistryRef(`${region.repository}:x`).registry;
  const env = s.req.env ?? process.env;
  const list = [
    ...(s.req.insecure ?? []),
    ...(env['AIRLOCK_INSECURE_REGISTRIES'] ?? '').split(','),
  ];
  return list.map((x) => x.trim()).includes(host);
};

const iso = (s: Session): string => new Date(s.world.clock.now()).toISOString();

async function save(s: Session, record: RolloutRecord): Promise<RolloutRecord> {
  s.state.rollout = record;
  await writeState(s.store.paths.deploy, s.state);
  return record;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `airlock deploy <artifact> --env <env>`: verify against the environment's
 * policy, push by digest to every region and read the digest back, start the
 * new version beside the stable one, and shift traffic step by step with
 * gates read at the end of each step; any failure (or no data) rolls back
 * every region this rollout moved. `resume`/`abort` act on a paused rollout;
 * a rollout left unfinished by a killed deploy is rolled back first.
 */
export async function runDeploy(req: DeployRequest): Promise<DeployReport> {
  return session(
    req,
    async (s) => {
      let record = s.state.rollout;
      if (record && !isFinished(record)) {
        if (record.phase === 'paused' && (req.resume === true || req.abort === true)) {
          record = await save(s, resumed(record, req.abort === true, iso(s)));
          return drive(s, record);
        }
        // Interrupted (killed) or paused and a new deploy asked for: roll it back first.
        s.log({
          type: 'log',
          level: 'warn',
          message: `rollout ${record.id} was left ${record.phase}; rolling it back before anything else`,
        });
        const recovered = await drive(
          s,
          await save(
            s,
            abort(record, `interrupted while ${record.phase}; recovered by a new command`, iso(s)),
          ),
        );
        if (req.artifact === undefined || req.abort === true) return recovered;
      } else if (req.resume === true || req.abort === true) {
        throw new AirlockError<DeployErrorCode>(
          'NOTHING_TO_ROLL_BACK',
          `no paused rollout in ${s.env.name}`,
          { hint: 'Start one with `airlock deploy <artifact> --env <env>`.' },
        );
      }
      if (req.artifact === undefined)
        throw new AirlockError<DeployErrorCode>('DEPLOY_REFUSED', 'no artifact to deploy', {
          hint: 'Name a store tag or digest: `airlock deploy shop/web --env prod`.',
        });
      const desc = await resolveLocal(s.store, req.artifact, 'local store');
      const previous: Record<string, Digest | null> = {};
      for (const r of s.env.regions) previous[r.name] = s.state.regions[r.name]!.verified;
      const id = `${new Date(s.world.clock.now()).toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
      record = await save(
        s,
        newRollout({
          id,
          environment: s.env.name,
          artifact: desc.digest,
          regions: s.env.regions.map((r) => r.name),
          steps: s.env.steps,
          previous,
          at: iso(s),
        }),
      );
      return drive(s, record);
    },
    req.abort === true,
  );
}

function region(s: Session, name: string): RegionConfig {
  return s.env.regions.find((r) => r.name === name)!;
}

/** Runs the state machine until it stops (done or paused), saving after every transition. */
async function drive(s: Session, start: RolloutRecord): Promise<DeployReport> {
  let record = start;
  for (;;) {
    const action = nextAction(record);
    if (action.kind === 'done' || action.kind === 'wait') break;
    if (action.kind === 'verify') record = await save(s, await verify(s, record));
    else if (action.kind === 'push') record = await save(s, await push(s, record));
    else if (action.kind === 'start')
      record = await save(s, await startRegion(s, record, action.region));
    else if (action.kind === 'shift') record = await step(s, record, action.region, action.weight);
    else if (action.kind === 'rollback') {
      for (const r of action.regions) await rollbackRegion(s, record, r, action.reason);
      // A region where the new version started but took no traffic yet: just remove it.
      for (const r of s.env.regions)
        if (!action.regions.includes(r.name)) await discard(s, record, r);
      record = await save(s, rolledBack(record, iso(s)));
    }
  }
  const outcome: DeployReport['outcome'] =
    record.phase === 'paused'
      ? 'paused'
      : record.phase === 'promoted'
        ? 'promoted'
        : record.phase === 'refused'
          ? 'refused'
          : 'rolled-back';
  if (outcome === 'paused')
    s.emit({
      kind: 'deploy.paused',
      rollout: record.id,
      environment: s.env.name,
      region: record.regions[record.region] ?? '',
      reason: record.reason ?? '',
    });
  s.emit({
    kind: 'deploy.done',
    rollout: record.id,
    environment: s.env.name,
    outcome,
    ...(record.reason === undefined || outcome === 'promoted' ? {} : { reason: record.reason }),
  });
  return { environment: s.env.name, outcome, rollout: record };
}

async function verify(s: Session, record: RolloutRecord): Promise<RolloutRecord> {
  const { runVerify } = await import('./verify.js');
  let pass = false;
  let rules: { rule: string; pass: boolean; reason: string }[];
  try {
    const v = await runVerify({
      artifact: record.artifact,
      policy: s.env.policy,
      store: s.store.root,
      events: s.log,
      clock: s.world.clock,
    });
    pass = v.pass && v.digest === record.artifact;
    rules = v.rules;
  } catch (err) {
    // Fail closed: a policy that cannot be read or evaluated refuses the deploy.
    rules = [
      { rule: 'verify', pass: false, reason: err instanceof Error ? err.message : String(err) },
    ];
  }
  s.emit({
    kind: 'deploy.verified',
    rollout: record.id,
    environment: s.env.name,
    artifact: record.artifact,
    pass,
    rules,
  });
  const failing = rules.filter((r) => !r.pass).map((r) => `${r.rule}: ${r.reason}`);
  return verified(record, pass, failing.length > 0 ? failing : ['the policy did not pass'], iso(s));
}

async function push(s: Session, record: RolloutRecord): Promise<RolloutRecord> {
  const desc = await resolveLocal(s.store, record.artifact, 'local store');
  for (const r of s.env.regions) {
    try {
      const c = await client(s, r);
      const result = await pushArtifact(c, repoOf(r), s.store, desc, undefined, { events: s.log });
      // Read it back: the region must serve exactly the verified digest.
      const back = await c.getManifest(repoOf(r), record.artifact);
      if (back.descriptor.digest !== record.artifact)
        return pushed(
          record,
          `region ${r.name}: ${r.repository} serves ${back.descriptor.digest}, not the verified ${record.artifact}`,
          iso(s),
        );
      s.emit({
        kind: 'deploy.pushed',
        rollout: record.id,
        environment: s.env.name,
        region: r.name,
        repository: r.repository,
        served: back.descriptor.digest,
        blobs: { transferred: result.blobs.transferred, skipped: result.blobs.skipped },
      });
    } catch (err) {
      return pushed(
        record,
        `region ${r.name}: ${r.repository} does not serve the verified ${record.artifact}: ${err instanceof Error ? err.message : String(err)}`,
        iso(s),
      );
    }
  }
  return pushed(record, undefined, iso(s));
}

/** The slot the new version goes into: the one that is not stable. */
function canarySlot(s: Session, name: string): string {
  const r = region(s, name);
  const st = s.state.regions[name]!;
  return st.stable === r.router.servers[0] ? r.router.servers[1] : r.router.servers[0];
}

async function waitReady(s: Session, port: number): Promise<string | undefined> {
  const url = `http://127.0.0.1:${port}${s.env.readiness.path}`;
  const deadline = s.world.clock.now() + s.env.readiness.timeoutMs;
  let last = 'no answer';
  while (s.world.clock.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) return undefined;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    }
    await s.world.sleep(100);
  }
  return `the new version did not answer ${url} within ${s.env.readiness.timeoutMs} ms (last: ${last})`;
}

async function scrapeTargets(s: Session, r: RegionConfig): Promise<void> {
  if (r.metrics.targets === undefined) return;
  const st = s.state.regions[r.name]!;
  await writeScrapeTargets(
    r.metrics.targets,
    Object.entries(st.slots).flatMap(([slot, v]) =>
      v === null
        ? []
        : [
            {
              address: `127.0.0.1:${v.port}`,
              labels: {
                airlock_region: r.name,
                airlock_slot: slot,
                airlock_digest: v.digest,
                airlock_environment: s.env.name,
              },
            },
          ],
    ),
  );
}

async function startRegion(
  s: Session,
  record: RolloutRecord,
  name: string,
): Promise<RolloutRecord> {
  const r = region(s, name);
  const st = s.state.regions[name]!;
  const slot = canarySlot(s, name);
  const old = st.slots[slot];
  // The slot's previous occupant (two releases back) is idle at weight 0: it makes room.
  if (old) {
    await s.world.router(r).weights({ [slot]: 0 });
    await s.world.runtime.stop(old.container).catch(() => undefined);
    st.slots[slot] = null;
  }
  const port = await freePort();
  const container = `airlock-${s.env.name}-${name}-${slot}-${record.artifact.slice(7, 19)}-${port}`;
  try {
    await s.world.runtime.start({
      name: container,
      image: `${r.repository}@${record.artifact}`,
      env: { PORT: String(port) },
      labels: {
        [LABELS.environment]: s.env.name,
        [LABELS.region]: name,
        [LABELS.slot]: slot,
        [LABELS.digest]: record.artifact,
      },
      insecure: isInsecure(s, r),
    });
  } catch (err) {
    return started(
      record,
      `region ${name}: ${err instanceof Error ? err.message : String(err)}`,
      iso(s),
    );
  }
  st.slots[slot] = { digest: record.artifact, container, port };
  await save(s, record);
  s.emit({
    kind: 'deploy.started',
    rollout: record.id,
    environment: s.env.name,
    region: name,
    digest: record.artifact,
    container,
    port,
  });
  const problem = await waitReady(s, port);
  if (problem !== undefined) {
    await s.world.runtime.stop(container).catch(() => undefined);
    st.slots[slot] = null;
    return started(record, `region ${name}: ${problem}`, iso(s));
  }
  await s.world.router(r).point(slot, port);
  await scrapeTargets(s, r);
  return started(record, undefined, iso(s));
}

/** Sets the weights, holds the step, reads every gate, and lets the state machine decide. */
async function step(
  s: Session,
  record: RolloutRecord,
  name: string,
  weight: number,
): Promise<RolloutRecord> {
  const r = region(s, name);
  const st = s.state.regions[name]!;
  const slot = canarySlot(s, name);
  const weights: Record<string, number> = { [slot]: weight };
  if (st.stable !== null) weights[st.stable] = 100 - weight;
  await s.world.router(r).weights(weights);
  let rec = await save(s, shifted(record, iso(s)));
  s.emit({
    kind: 'deploy.step',
    rollout: rec.id,
    environment: s.env.name,
    region: name,
    step: rec.step,
    steps: rec.previous[name] === null ? 1 : rec.steps.length,
    weights: { canary: weight, stable: st.stable === null ? 0 : 100 - weight },
  });
  await s.world.sleep(s.env.holdMs);
  const samples = await readGates(s, rec, r, slot, weight);
  for (const sample of samples)
    s.emit({ kind: 'deploy.gate', rollout: rec.id, environment: s.env.name, sample });
  rec = evaluated(rec, s.env.gates, samples, iso(s), s.env.abort);
  if (rec.promoted.includes(name) && !record.promoted.includes(name))
    await promote(s, rec, r, slot);
  return save(s, rec);
}

async function readGates(
  s: Session,
  record: RolloutRecord,
  r: RegionConfig,
  slot: string,
  weight: number,
): Promise<GateSample[]> {
  const vars = {
    backend: r.router.backend,
    server: slot,
    region: r.name,
    digest: record.artifact,
    environment: s.env.name,
    window: `${Math.max(1, Math.ceil(s.env.holdMs / 1000))}s`,
  };
  const source = s.world.metrics(r);
  const requestsQuery = renderQuery(REQUESTS_QUERY, vars);
  const requests = await source.read(requestsQuery);
  const out: GateSample[] = [];
  for (const gate of s.env.gates) {
    const query = renderQuery(gate.query, vars);
    const read = await source.read(query);
    // The request count matters only to a gate with a minimum-traffic guard.
    const error =
      'error' in read
        ? read.error
        : 'error' in requests && gate.minRequests > 0
          ? requests.error
          : undefined;
    const judged = judgeGate(gate, {
      value: 'value' in read ? read.value : null,
      requests: 'value' in requests ? requests.value : null,
      ...(error === undefined ? {} : { error }),
    });
    out.push({
      gate: gate.name,
      region: r.name,
      step: record.step,
      weight,
      query,
      value: 'value' in read ? read.value : null,
      requests: 'value' in requests ? requests.value : null,
      threshold: {
        ...(gate.max === undefined ? {} : { max: gate.max }),
        ...(gate.min === undefined ? {} : { min: gate.min }),
        minRequests: gate.minRequests,
      },
      ...judged,
      at: iso(s),
    });
  }
  return out;
}

/** The new version becomes stable in the region; the previous one stays, idle, for instant rollback. */
async function promote(
  s: Session,
  record: RolloutRecord,
  r: RegionConfig,
  slot: string,
): Promise<void> {
  const st = s.state.regions[r.name]!;
  const prev = st.verified;
  st.stable = slot;
  st.verified = record.artifact;
  await retag(s, r, record.artifact);
  s.emit({
    kind: 'deploy.promoted',
    rollout: record.id,
    environment: s.env.name,
    region: r.name,
    digest: record.artifact,
    previous: prev,
  });
}

/** Points the region registry's environment tag (`<repo>:<env>`) at `digest`. */
async function retag(s: Session, r: RegionConfig, digest: Digest | null): Promise<void> {
  if (digest === null) return;
  const c = await client(s, r);
  const got = await c.getManifest(repoOf(r), digest);
  await c.putManifest(repoOf(r), s.env.name, got.bytes, got.descriptor.mediaType);
}

/**
 * Rolls one region back to the digest it ran before the rollout: weights
 * first (the previous version takes every request at once), then the new
 * version's container is stopped and the records are put back.
 */
async function rollbackRegion(
  s: Session,
  record: RolloutRecord,
  name: string,
  reason: string,
): Promise<void> {
  const r = region(s, name);
  const st = s.state.regions[name]!;
  const to = record.previous[name] ?? null;
  const t0 = s.world.clock.now();
  const entries = Object.entries(st.slots);
  const back = entries.find(([, v]) => v !== null && to !== null && v.digest === to)?.[0];
  const weights: Record<string, number> = {};
  for (const [slot] of entries) weights[slot] = slot === back ? 100 : 0;
  await s.world.router(r).weights(weights);
  const ms = s.world.clock.now() - t0;
  s.emit({
    kind: 'deploy.rollback',
    rollout: record.id,
    environment: s.env.name,
    region: name,
    to,
    from: record.artifact,
    reason,
    ms,
  });
  for (const [slot, v] of entries) {
    if (v !== null && v.digest === record.artifact && slot !== back) {
      await s.world.runtime.stop(v.container).catch(() => undefined);
      st.slots[slot] = null;
    }
  }
  st.stable = back ?? null;
  st.verified = to;
  await scrapeTargets(s, r);
  await save(s, record);
  if (to !== null) await retag(s, r, to).catch(() => undefined);
}

/** Stops the rollout's containers that never became stable in region `r` (no traffic moved there). */
async function discard(s: Session, record: RolloutRecord, r: RegionConfig): Promise<void> {
  const st = s.state.regions[r.name]!;
  for (const [slot, v] of Object.entries(st.slots)) {
    if (v === null || v.digest !== record.artifact || slot === st.stable) continue;
    await s.world
      .router(r)
      .weights({ [slot]: 0 })
      .catch(() => undefined);
    await s.world.runtime.stop(v.container).catch(() => undefined);
    st.slots[slot] = null;
  }
}

export interface RollbackRequest extends DeployOptions {
  /** Only this region (default: every region of the environment). */
  region?: string | undefined;
  /** Why, as kept with the rollout and in the audit log (default "rolled back by hand"). */
  reason?: string | undefined;
}

/**
 * `airlock rollback --env <env> [--region r]`: an unfinished rollout (paused
 * or killed) is rolled back where it moved traffic; otherwise each region
 * goes back to the version it ran before its last promotion, weights first.
 */
export async function runRollback(req: RollbackRequest): Promise<DeployReport> {
  return session(
    req,
    async (s) => {
      const current = s.state.rollout;
      if (current && !isFinished(current)) {
        const rec = await save(s, abort(current, req.reason ?? 'rolled back by hand', iso(s)));
        return drive(s, rec);
      }
      const names = req.region === undefined ? s.env.regions.map((r) => r.name) : [req.region];
      for (const n of names)
        if (!s.env.regions.some((r) => r.name === n))
          throw new AirlockError<DeployErrorCode>(
            'NOTHING_TO_ROLL_BACK',
            `environment ${s.env.name} has no region ${n}`,
            {
              hint: `Use one of: ${s.env.regions.map((r) => r.name).join(', ')}.`,
            },
          );
      const previous: Record<string, Digest | null> = {};
      let from: Digest | undefined;
      for (const n of names) {
        const st = s.state.regions[n]!;
        const other = Object.entries(st.slots).find(
          ([slot, v]) => slot !== st.stable && v !== null,
        )?.[1];
        if (!other || st.verified === null)
          throw new AirlockError<DeployErrorCode>(
            'NOTHING_TO_ROLL_BACK',
            `region ${n} of ${s.env.name} has no previous version to go back to`,
            {
              hint: 'A rollback needs a version promoted before the current one (kept idle by the last deploy).',
            },
          );
        previous[n] = other.digest;
        from = st.verified;
      }
      const id = `rollback-${new Date(s.world.clock.now()).toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
      let rec = newRollout({
        id,
        environment: s.env.name,
        artifact: from!,
        regions: names,
        steps: [100],
        previous,
        at: iso(s),
      });
      rec = {
        ...rec,
        phase: 'rolling-back',
        moved: [...names].reverse(),
        reason: req.reason ?? 'rolled back by hand',
      };
      rec = await save(s, rec);
      return drive(s, rec);
    },
    true,
  );
}

/** One region as `status` sees it, from the runtime, the router and the registry. */
export interface RegionStatus {
  region: string;
  /** The digest the last promotion verified: what should run. */
  verified: Digest | null;
  /** The digest the region registry serves for `<repository>:<environment>`. */
  registry: string | null;
  containers: { name: string; digest: string; running: boolean; slot: string | null }[];
  router: { slot: string; port: number; weight: number }[];
}

export interface StatusReport {
  environment: string;
  regions: RegionStatus[];
  drift: Extract<DeployEvent, { kind: 'deploy.drift' }>[];
  rollout: {
    id: string;
    phase: string;
    artifact: Digest;
    region?: string;
    step?: number;
    reason?: string;
  } | null;
}

/**
 * The digests a container may legitimately report for `verified`: the
 * manifest itself and, when it is a multi-platform index, each platform
 * manifest (podman may record either; comparing an index with its platform
 * manifest is not drift).
 */
async function equivalent(store: Store, digest: Digest): Promise<Set<string>> {
  const out = new Set<string>([digest]);
  try {
    const m = JSON.parse((await store.getBytes(digest)).toString('utf8')) as {
      manifests?: { digest?: string }[];
    };
    for (const child of m.manifests ?? [])
      if (typeof child.digest === 'string') out.add(child.digest);
  } catch {
    // Not in the local store: only the digest itself.
  }
  return out;
}

/**
 * Whether `actual` is a multi-platform index whose entry for this machine's
 * platform is one of `allowed`: what a registry tag or podman reports when the
 * verified platform manifest was published or pulled through an index. That is
 * the same release, not drift; an index whose entry for this platform is
 * anything else is still drift. The index is read from the store, else from the
 * region's registry (digest-verified); unreadable means "not the same".
 */
async function indexOfAllowed(
  s: Session,
  r: RegionConfig,
  allowed: Set<string>,
  actual: string,
  seen: Map<string, Promise<boolean>>,
): Promise<boolean> {
  if (!/^sha256:[0-9a-f]{64}$/.test(actual)) return false;
  let got = seen.get(actual);
  if (got === undefined) {
    got = (async () => {
      try {
        const d = actual as Digest;
        const bytes = (await s.store.has(d))
          ? await s.store.getBytes(d)
          : (await (await client(s, r)).getManifest(repoOf(r), d)).bytes;
        const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
          manifests?: { digest?: unknown; platform?: { os?: unknown; architecture?: unknown } }[];
        };
        const arch = ociArch(process.arch);
        const entry = (m.manifests ?? []).find(
          (x) => x.platform?.os === 'linux' && x.platform.architecture === arch,
        );
        return typeof entry?.digest === 'string' && allowed.has(entry.digest);
      } catch {
        return false;
      }
    })();
    seen.set(actual, got);
  }
  return got;
}

/**
 * `airlock status --env <env>`: for every region, the registry's digest for
 * the environment tag, the image digest of every running container (from the
 * runtime), and the router's weights, each compared with the last verified
 * digest. Drift is listed with region and both digests.
 */
export async function runStatus(req: DeployOptions): Promise<StatusReport> {
  return sessionReadOnly(req, async (s) => {
    const regions: RegionStatus[] = [];
    const drift: StatusReport['drift'] = [];
    const note = (d: Omit<StatusReport['drift'][number], 'kind' | 'environment'>): void => {
      const e = { kind: 'deploy.drift' as const, environment: s.env.name, ...d };
      drift.push(e);
      s.emit(e);
    };
    const latest = s.state.rollout?.phase === 'promoted' ? s.state.rollout.artifact : undefined;
    for (const r of s.env.regions) {
      const st = s.state.regions[r.name]!;
      const ok = st.verified === null ? new Set<string>() : await equivalent(s.store, st.verified);
      const indexes = new Map<string, Promise<boolean>>();
      const isVerified = async (d: string): Promise<boolean> =>
        ok.has(d) || indexOfAllowed(s, r, ok, d, indexes);
      let registry: string | null;
      try {
        const c = await client(s, r);
        registry = (await c.headManifest(repoOf(r), s.env.name))?.digest ?? null;
      } catch (err) {
        registry = `unreachable: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (st.verified !== null && (registry === null || !(await isVerified(registry))))
        note({
          region: r.name,
          what: 'registry',
          expected: st.verified,
          actual: registry,
          detail: `${r.repository}:${s.env.name} serves ${registry ?? 'nothing'}, not the verified ${st.verified}`,
        });
      const listed = await s.world.runtime.list({ key: LABELS.region, value: r.name });
      const containers = listed
        .filter((c) => c.labels[LABELS.environment] === s.env.name)
        .map((c) => ({
          name: c.name,
          digest: c.imageDigest,
          running: c.running,
          slot: c.labels[LABELS.slot] ?? null,
        }));
      const known = new Set(
        Object.values(st.slots).flatMap((v) => (v === null ? [] : [v.container])),
      );
      const slotDigests = new Set<string>();
      const slotIndexes = new Map<string, Promise<boolean>>();
      for (const v of Object.values(st.slots))
        if (v) for (const d of await equivalent(s.store, v.digest)) slotDigests.add(d);
      for (const c of containers) {
        if (!c.running) continue;
        const deployed =
          slotDigests.has(c.digest) ||
          (await indexOfAllowed(s, r, slotDigests, c.digest, slotIndexes));
        if (!deployed || !known.has(c.name))
          note({
            region: r.name,
            what: 'container',
            expected: st.verified,
            actual: c.digest,
            detail: `container ${c.name} runs ${c.digest}, which no deploy put there`,
          });
      }
      const stable = st.stable === null ? null : st.slots[st.stable];
      if (stable) {
        const c = await s.world.runtime.inspect(stable.container);
        if (!c || !c.running)
          note({
            region: r.name,
            what: 'container',
            expected: st.verified,
            actual: null,
            detail: `the stable container ${stable.container} is not running`,
          });
        else if (!(await isVerified(c.imageDigest)))
          note({
            region: r.name,
            what: 'container',
            expected: st.verified,
            actual: c.imageDigest,
            detail: `the stable container ${stable.container} runs ${c.imageDigest}, not the verified ${st.verified}`,
          });
      }
      let router: RegionStatus['router'] = [];
      try {
        router = (await s.world.router(r).servers()).map((x) => ({
          slot: x.name,
          port: x.port,
          weight: x.weight,
        }));
        const inProgress = s.state.rollout !== null && !isFinished(s.state.rollout);
        for (const x of router) {
          const v = st.slots[x.slot];
          if (x.weight > 0 && (!v || v.port !== x.port))
            note({
              region: r.name,
              what: 'router',
              expected: st.verified,
              actual: `127.0.0.1:${x.port}`,
              detail: `router slot ${x.slot} sends traffic (weight ${x.weight}) to 127.0.0.1:${x.port}, where no deployed version listens`,
            });
          else if (!inProgress && x.weight > 0 && x.slot !== st.stable)
            note({
              region: r.name,
              what: 'router',
              expected: st.verified,
              actual: v?.digest ?? null,
              detail: `router slot ${x.slot} (not the stable one) has weight ${x.weight} with no rollout in progress`,
            });
        }
      } catch (err) {
        note({
          region: r.name,
          what: 'router',
          expected: st.verified,
          actual: null,
          detail: err instanceof Error ? err.message : String(err),
        });
      }
      if (latest !== undefined && st.verified !== latest)
        note({
          region: r.name,
          what: 'behind',
          expected: latest,
          actual: st.verified,
          detail: `region ${r.name} runs ${st.verified ?? 'nothing'}, behind the environment's last promoted ${latest}`,
        });
      regions.push({ region: r.name, verified: st.verified, registry, containers, router });
    }
    const ro = s.state.rollout;
    return {
      environment: s.env.name,
      regions,
      drift,
      rollout: ro
        ? {
            id: ro.id,
            phase: ro.phase,
            artifact: ro.artifact,
            ...(isFinished(ro) ? {} : { region: ro.regions[ro.region] ?? '', step: ro.step }),
            ...(ro.reason === undefined ? {} : { reason: ro.reason }),
          }
        : null,
    };
  });
}

/** Like session, without the lock: status only reads (and may run beside a deploy). */
async function sessionReadOnly<T>(req: DeployOptions, fn: (s: Session) => Promise<T>): Promise<T> {
  const project = await loadConfig(req.project ?? process.cwd());
  const env = project.environments?.get(req.environment);
  if (env === undefined)
    throw new AirlockError<DeployErrorCode>(
      'UNKNOWN_ENVIRONMENT',
      `${project.file} declares no environment "${req.environment}"`,
      {
        hint: `Use one of: ${[...(project.environments?.keys() ?? [])].join(', ') || '(none declared)'}.`,
      },
    );
  const store = await openStore(req);
  try {
    const s: Session = {
      req,
      project,
      env,
      store,
      world: { ...defaultWorld(), ...req.world },
      state: await readState(store.paths.deploy, env.name),
      emit: req.onEvent ?? (() => {}),
      log: req.events ?? noEvents,
      clients: new Map(),
    };
    for (const r of env.regions) s.state.regions[r.name] ??= emptyRegion(r);
    return await fn(s);
  } finally {
    store.close();
  }
}
