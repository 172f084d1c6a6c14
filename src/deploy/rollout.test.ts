import { describe, expect, it } from 'vitest';
import type { GateConfig } from '../config/index.js';
import type { GateSample } from './events.js';
import {
  abort,
  decideStep,
  evaluated,
  judgeGate,
  newRollout,
  nextAction,
  pushed,
  resumed,
  rolledBack,
  shifted,
  started,
  verified,
  type RolloutRecord,
} from './rollout.js';

const A = `sha256:${'a'.repeat(64)}` as const;
const B = `sha256:${'b'.repeat(64)}` as const;
const AT = '2026-01-01T00:00:00Z';

const gate = (over: Partial<GateConfig> = {}): GateConfig => ({
  name: 'error-rate',
  query: 'q',
  max: 0.05,
  onNoData: 'fail',
  extendLimit: 2,
  minRequests: 10,
  ...over,
});

const sample = (
  g: GateConfig,
  read: { value: number | null; requests: number | null; error?: string },
): GateSample => ({
  gate: g.name,
  region: 'eu',
  step: 0,
  weight: 5,
  query: g.query,
  value: read.value,
  requests: read.requests,
  threshold: { ...(g.max === undefined ? {} : { max: g.max }), minRequests: g.minRequests },
  ...judgeGate(g, read),
  at: AT,
});

const rollout = (previous: Record<string, typeof A | null> = { eu: A, us: A }): RolloutRecord =>
  newRollout({
    id: 'r1',
    environment: 'prod',
    artifact: B,
    regions: ['eu', 'us'],
    steps: [5, 50, 100],
    previous,
    at: AT,
  });

/** Drives a rollout to the stepping phase of its first region with traffic moved. */
const stepping = (r = rollout()): RolloutRecord =>
  shifted(started(pushed(verified(r, true, [], AT), undefined, AT), undefined, AT), AT);

describe('judgeGate', () => {
  it('passes a value within the threshold with enough requests', () => {
    expect(judgeGate(gate(), { value: 0.01, requests: 50 }).verdict).toBe('pass');
  });
  it('fails a value above max and below min', () => {
    expect(judgeGate(gate(), { value: 0.5, requests: 50 }).verdict).toBe('fail');
    expect(judgeGate({ ...gate(), max: 2, min: 1 }, { value: 0.5, requests: 50 }).verdict).toBe(
      'fail',
    );
  });
  it('never passes no data, NaN or too few requests', () => {
    expect(judgeGate(gate(), { value: null, requests: 50 }).verdict).toBe('no-data');
    expect(judgeGate(gate(), { value: Number.NaN, requests: 50 }).verdict).toBe('no-data');
    expect(judgeGate(gate(), { value: 0, requests: 3 }).verdict).toBe('no-data');
    expect(judgeGate(gate(), { value: 0, requests: null }).verdict).toBe('no-data');
  });
  it('reports a query error as an error', () => {
    expect(judgeGate(gate(), { value: 0, requests: 50, error: 'unreachable' }).verdict).toBe(
      'error',
    );
  });
});

describe('decideStep', () => {
  it('rolls back on no data by default, pauses or extends when the gate says so', () => {
    const none = { value: null, requests: 50 };
    expect(decideStep([gate()], [sample(gate(), none)], 0).decision).toBe('rollback');
    const p = gate({ onNoData: 'pause' });
    expect(decideStep([p], [sample(p, none)], 0).decision).toBe('pause');
    const e = gate({ onNoData: 'extend', extendLimit: 1 });
    expect(decideStep([e], [sample(e, none)], 0).decision).toBe('extend');
    expect(decideStep([e], [sample(e, none)], 1).decision).toBe('rollback');
  });
  it('rolls back when a gate was not read at all', () => {
    expect(decideStep([gate()], [], 0).decision).toBe('rollback');
  });
  it('lets a failure win over a pause', () => {
    const p = gate({ name: 'p', onNoData: 'pause' });
    const f = gate({ name: 'f' });
    const d = decideStep(
      [p, f],
      [sample(p, { value: null, requests: 50 }), sample(f, { value: 1, requests: 50 })],
      0,
    );
    expect(d.decision).toBe('rollback');
  });
});

describe('a rollout', () => {
  it('is refused before anything moves when verification fails', () => {
    const r = verified(rollout(), false, ['signed: no signature'], AT);
    expect(r.phase).toBe('refused');
    expect(r.moved).toEqual([]);
    expect(r.reason).toContain('signed: no signature');
    expect(nextAction(r)).toEqual({ kind: 'done' });
  });

  it('is refused when a region registry serves another digest', () => {
    const r = pushed(verified(rollout(), true, [], AT), 'region us serves sha256:x', AT);
    expect(r.phase).toBe('refused');
    expect(r.moved).toEqual([]);
  });

  it('walks every step of every region, one region after another, to promoted', () => {
    const g = gate();
    let r = stepping();
    const seen: string[] = [];
    for (let i = 0; i < 10 && r.phase !== 'promoted'; i++) {
      const a = nextAction(r);
      if (a.kind === 'start') r = started(r, undefined, AT);
      else if (a.kind === 'shift') {
        seen.push(`${a.region}:${a.weight}`);
        r = evaluated(shifted(r, AT), [g], [sample(g, { value: 0, requests: 100 })], AT);
      }
    }
    expect(seen).toEqual(['eu:5', 'eu:50', 'eu:100', 'us:5', 'us:50', 'us:100']);
    expect(r.phase).toBe('promoted');
    expect(r.promoted).toEqual(['eu', 'us']);
    expect(r.samples).toHaveLength(6);
  });

  it('goes straight to 100% in a region with no stable version', () => {
    const r = stepping(rollout({ eu: null, us: A }));
    expect(nextAction(r)).toEqual({ kind: 'shift', region: 'eu', step: 0, weight: 100 });
  });

  it('rolls back every region it moved when a later region fails (one decision)', () => {
    const g = gate();
    let r = stepping();
    const ok = [sample(g, { value: 0, requests: 100 })];
    r = evaluated(r, [g], ok, AT); // eu 5 → 50
    r = evaluated(r, [g], ok, AT); // eu 50 → 100
    r = evaluated(r, [g], ok, AT); // eu promoted, us starting
    r = shifted(started(r, undefined, AT), AT);
    r = evaluated(r, [g], [sample(g, { value: 0.9, requests: 100 })], AT);
    expect(r.phase).toBe('rolling-back');
    expect(nextAction(r)).toMatchObject({ kind: 'rollback', regions: ['us', 'eu'] });
    expect(r.reason).toContain('0.9 is above the maximum 0.05');
    expect(rolledBack(r, AT).phase).toBe('rolled-back');
  });

  it('rolls back only the failing region with abort: region', () => {
    let r = stepping();
    r = { ...r, moved: ['eu', 'us'], region: 1 };
    expect(abort(r, 'bad', AT, 'region').moved).toEqual(['us']);
  });

  it('pauses, then resumes or aborts by hand', () => {
    const p = gate({ onNoData: 'pause' });
    const r = evaluated(stepping(), [p], [sample(p, { value: null, requests: 100 })], AT);
    expect(r.phase).toBe('paused');
    expect(nextAction(r).kind).toBe('wait');
    expect(resumed(r, false, AT).phase).toBe('stepping');
    expect(resumed(r, true, AT).phase).toBe('rolling-back');
  });

  it('extends a step up to its limit, then rolls back', () => {
    const e = gate({ onNoData: 'extend', extendLimit: 1 });
    const none = [sample(e, { value: null, requests: 0 })];
    let r = evaluated(stepping(), [e], none, AT);
    expect(r.phase).toBe('stepping');
    expect(r.extensions).toBe(1);
    r = evaluated(r, [e], none, AT);
    expect(r.phase).toBe('rolling-back');
  });
});
