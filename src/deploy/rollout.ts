import type { GateConfig } from '../config/index.js';
import type { Digest } from '../core/digest.js';
import type { GateSample } from './events.js';

/*
 * The rollout state machine: pure. The driver (pipeline/deploy.ts) asks
 * `nextAction` what to do, does it, and feeds the outcome back through one of
 * the transition functions; the record is written to the store after every
 * transition, so a killed deploy leaves a record that says where it stood.
 *
 *   verifying ─► pushing ─► starting ─► stepping ─┬─► (next step / next region) ─► promoted
 *       │           │          │          │  ▲    ├─► paused ─► (resume) stepping | (abort) rolling-back
 *       └───────────┴──────────┴─► refused│  └────┘ extend
 *                                         └─► rolling-back ─► rolled-back
 */

export const ROLLOUT_FORMAT = 'airlock.rollout/v1';

export type RolloutPhase =
  | 'verifying'
  | 'pushing'
  | 'starting'
  | 'stepping'
  | 'paused'
  | 'promoted'
  | 'rolling-back'
  | 'rolled-back'
  | 'refused';

/** One line of the rollout's history: what happened and when. */
export interface RolloutTransition {
  at: string;
  phase: RolloutPhase;
  region?: string;
  step?: number;
  note: string;
}

/** Everything about one rollout: kept with it in the store, so every decision can be explained afterwards. */
export interface RolloutRecord {
  format: typeof ROLLOUT_FORMAT;
  id: string;
  environment: string;
  artifact: Digest;
  /** Rollout order. */
  regions: string[];
  /** Canary weights in percent, ending at 100. */
  steps: number[];
  phase: RolloutPhase;
  /** The region being worked on (index into `regions`). */
  region: number;
  /** The step of that region (index into `steps`). */
  step: number;
  /** How many times the current step was extended for lack of data. */
  extensions: number;
  /** Regions whose router this rollout changed (rollback restores them). */
  moved: string[];
  /** Regions this rollout promoted. */
  promoted: string[];
  /** The stable digest of each region before the rollout (null: none). */
  previous: Record<string, Digest | null>;
  samples: GateSample[];
  history: RolloutTransition[];
  /** Why the rollout ended as it did (refused, rolled back, paused). */
  reason?: string;
}

/** What the driver must do next. */
export type RolloutAction =
  | { kind: 'verify' }
  | { kind: 'push' }
  | { kind: 'start'; region: string }
  | { kind: 'shift'; region: string; step: number; weight: number }
  | { kind: 'rollback'; regions: string[]; reason: string }
  | { kind: 'wait'; region: string; reason: string }
  | { kind: 'done' };

/** A new rollout of `artifact`, waiting for verification. */
export function newRollout(opts: {
  id: string;
  environment: string;
  artifact: Digest;
  regions: string[];
  steps: number[];
  previous: Record<string, Digest | null>;
  at: string;
}): RolloutRecord {
  return {
    format: ROLLOUT_FORMAT,
    id: opts.id,
    environment: opts.environment,
    artifact: opts.artifact,
    regions: [...opts.regions],
    steps: [...opts.steps],
    phase: 'verifying',
    region: 0,
    step: 0,
    extensions: 0,
    moved: [],
    promoted: [],
    previous: { ...opts.previous },
    samples: [],
    history: [{ at: opts.at, phase: 'verifying', note: `rollout of ${opts.artifact} started` }],
  };
}

/** The canary weights of a region: a region with no stable version goes straight to 100%. */
export function stepsFor(record: RolloutRecord, region: string): number[] {
  return record.previous[region] === null ? [100] : record.steps;
}

/** The next thing to do for `record`. */
export function nextAction(record: RolloutRecord): RolloutAction {
  const region = record.regions[record.region];
  switch (record.phase) {
    case 'verifying':
      return { kind: 'verify' };
    case 'pushing':
      return { kind: 'push' };
    case 'starting':
      return region === undefined ? { kind: 'done' } : { kind: 'start', region };
    case 'stepping': {
      if (region === undefined) return { kind: 'done' };
      const weight = stepsFor(record, region)[record.step]!;
      return { kind: 'shift', region, step: record.step, weight };
    }
    case 'paused':
      return { kind: 'wait', region: region ?? '', reason: record.reason ?? 'paused' };
    case 'rolling-back':
      return {
        kind: 'rollback',
        regions: [...record.moved].reverse(),
        reason: record.reason ?? 'rollback',
      };
    default:
      return { kind: 'done' };
  }
}

function moveTo(
  record: RolloutRecord,
  phase: RolloutPhase,
  at: string,
  note: string,
  patch: Partial<RolloutRecord> = {},
): RolloutRecord {
  const next: RolloutRecord = { ...record, ...patch, phase };
  const region = next.regions[next.region];
  next.history = [
    ...record.history,
    {
      at,
      phase,
      ...(region === undefined ? {} : { region }),
      ...(phase === 'stepping' ? { step: next.step } : {}),
      note,
    },
  ];
  return next;
}

/** Verification done: a failing verdict refuses the rollout before anything moves. */
export function verified(
  record: RolloutRecord,
  pass: boolean,
  failing: string[],
  at: string,
): RolloutRecord {
  if (!pass) {
    const reason = `verification failed: ${failing.join('; ')}`;
    return moveTo(record, 'refused', at, reason, { reason });
  }
  return moveTo(record, 'pushing', at, 'verified against the policy');
}

/** Pushed to every region (or refused when a region's registry served another digest). */
export function pushed(
  record: RolloutRecord,
  problem: string | undefined,
  at: string,
): RolloutRecord {
  if (problem !== undefined) return moveTo(record, 'refused', at, problem, { reason: problem });
  return moveTo(record, 'starting', at, 'pushed to every region, digests read back');
}

/** The new version runs and is ready in the current region (or failed its readiness check). */
export function started(
  record: RolloutRecord,
  problem: string | undefined,
  at: string,
): RolloutRecord {
  if (problem !== undefined) return abort(record, problem, at);
  return moveTo(record, 'stepping', at, 'new version ready', { step: 0, extensions: 0 });
}

/** The router of the current region now sends the step's weight to the new version. */
export function shifted(record: RolloutRecord, at: string): RolloutRecord {
  const region = record.regions[record.region]!;
  if (record.moved.includes(region)) return record;
  return {
    ...record,
    moved: [...record.moved, region],
    history: [
      ...record.history,
      { at, phase: record.phase, region, step: record.step, note: 'traffic moved' },
    ],
  };
}

/** How one gate judges its sample: thresholds, the minimum-traffic guard, and no data never passing. */
export function judgeGate(
  gate: GateConfig,
  read: { value: number | null; requests: number | null; error?: string },
): { verdict: GateSample['verdict']; detail: string } {
  if (read.error !== undefined) return { verdict: 'error', detail: read.error };
  if (gate.minRequests > 0 && (read.requests === null || !Number.isFinite(read.requests)))
    return { verdict: 'no-data', detail: 'no request count for the canary in the window' };
  if (read.requests !== null && read.requests < gate.minRequests)
    return {
      verdict: 'no-data',
      detail: `the canary received ${Math.round(read.requests)} requests in the window, fewer than the ${gate.minRequests} required`,
    };
  if (read.value === null || !Number.isFinite(read.value))
    return { verdict: 'no-data', detail: 'the query returned no data (or NaN)' };
  if (gate.max !== undefined && read.value > gate.max)
    return { verdict: 'fail', detail: `${read.value} is above the maximum ${gate.max}` };
  if (gate.min !== undefined && read.value < gate.min)
    return { verdict: 'fail', detail: `${read.value} is below the minimum ${gate.min}` };
  return { verdict: 'pass', detail: 'within the threshold' };
}

/** What the gates of one step decide together: any failure wins, then pause, then extend. */
export function decideStep(
  gates: readonly GateConfig[],
  samples: readonly GateSample[],
  extensions: number,
): { decision: 'advance' | 'rollback' | 'pause' | 'extend'; reason: string } {
  let pause: string | undefined;
  let extend: string | undefined;
  for (const gate of gates) {
    const s = samples.find((x) => x.gate === gate.name);
    if (s === undefined) return { decision: 'rollback', reason: `gate ${gate.name} was not read` };
    if (s.verdict === 'fail' || s.verdict === 'error')
      return { decision: 'rollback', reason: `gate ${gate.name}: ${s.detail}` };
    if (s.verdict !== 'no-data') continue;
    const why = `gate ${gate.name}: ${s.detail}`;
    if (gate.onNoData === 'fail')
      return { decision: 'rollback', reason: `${why} (onNoData: fail)` };
    if (gate.onNoData === 'pause') pause ??= why;
    else if (extensions >= gate.extendLimit)
      return {
        decision: 'rollback',
        reason: `${why}, still after ${extensions} extension${extensions === 1 ? '' : 's'} (extendLimit ${gate.extendLimit})`,
      };
    else extend ??= why;
  }
  if (pause !== undefined) return { decision: 'pause', reason: pause };
  if (extend !== undefined) return { decision: 'extend', reason: extend };
  return { decision: 'advance', reason: 'every gate passed' };
}

/** The gates of the current step were read: advance, extend, pause or roll back. */
export function evaluated(
  record: RolloutRecord,
  gates: readonly GateConfig[],
  samples: readonly GateSample[],
  at: string,
  abortScope: 'all' | 'region' = 'all',
): RolloutRecord {
  const withSamples = { ...record, samples: [...record.samples, ...samples] };
  const { decision, reason } = decideStep(gates, samples, record.extensions);
  const region = record.regions[record.region]!;
  if (decision === 'rollback') return abort(withSamples, reason, at, abortScope);
  if (decision === 'pause') return moveTo(withSamples, 'paused', at, reason, { reason });
  if (decision === 'extend')
    return moveTo(withSamples, 'stepping', at, `step extended: ${reason}`, {
      extensions: record.extensions + 1,
    });
  const steps = stepsFor(record, region);
  if (record.step + 1 < steps.length)
    return moveTo(withSamples, 'stepping', at, `step ${steps[record.step]}% passed`, {
      step: record.step + 1,
      extensions: 0,
    });
  const promoted = [...record.promoted, region];
  if (record.region + 1 < record.regions.length)
    return moveTo(withSamples, 'starting', at, `region ${region} promoted`, {
      promoted,
      region: record.region + 1,
      step: 0,
      extensions: 0,
    });
  return moveTo(withSamples, 'promoted', at, `region ${region} promoted; rollout complete`, {
    promoted,
  });
}

/** A human resumed a paused rollout (the step is read again) or aborted it. */
export function resumed(record: RolloutRecord, abortIt: boolean, at: string): RolloutRecord {
  if (record.phase !== 'paused') return record;
  if (abortIt) return abort(record, 'aborted by hand', at);
  return moveTo(record, 'stepping', at, 'resumed by hand', { extensions: 0 });
}

/** Decides to roll back: every region this rollout moved (scope `all`), or only the current one. */
export function abort(
  record: RolloutRecord,
  reason: string,
  at: string,
  scope: 'all' | 'region' = 'all',
): RolloutRecord {
  const current = record.regions[record.region];
  const moved = scope === 'all' ? record.moved : record.moved.filter((r) => r === current);
  return moveTo(record, moved.length === 0 ? 'rolled-back' : 'rolling-back', at, reason, {
    reason,
    moved,
  });
}

/** The rollback is complete in every region it covered. */
export function rolledBack(record: RolloutRecord, at: string): RolloutRecord {
  return moveTo(record, 'rolled-back', at, `rolled back: ${record.reason ?? ''}`);
}

/** True when the rollout is over and nothing is left to do. */
export function isFinished(record: RolloutRecord): boolean {
  return (
    record.phase === 'promoted' || record.phase === 'rolled-back' || record.phase === 'refused'
  );
}
