import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../core/digest.js';
import type { DeployEvent, GateSample } from '../deploy/index.js';
import { Store } from '../store/index.js';
import { auditDeploySink } from './audit-deploy.js';
import { openAuditLog } from './audit.js';

const NEW = sha256(Buffer.from('new release'));
const OLD = sha256(Buffer.from('old release'));

function sample(region: string, step: number, value: number | null): GateSample {
  return {
    gate: 'error-rate',
    region,
    step,
    weight: 5,
    query: 'q',
    value,
    requests: 40,
    threshold: { max: 0.01, minRequests: 5 },
    verdict: value === null ? 'no-data' : value <= 0.01 ? 'pass' : 'fail',
    detail: '',
    at: '2026-01-01T00:00:00.000Z',
  };
}

describe('deploy events in the audit log', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-audit-deploy-'));
    store = await Store.open(join(dir, 'store'));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function drive(events: DeployEvent[], manual: boolean): DeployEvent[] {
    const passed: DeployEvent[] = [];
    const sink = auditDeploySink(
      store,
      { manual, stableOf: () => OLD, audit: { user: 'ana', host: 'h1' }, log: () => {} },
      (e) => passed.push(e),
    );
    for (const e of events) sink(e);
    return passed;
  }

  it('records each step with its weights, every gate against its threshold and the decision; then the automatic rollback', () => {
    const events: DeployEvent[] = [
      {
        kind: 'deploy.verified',
        rollout: 'r1',
        environment: 'prod',
        artifact: NEW,
        pass: true,
        rules: [],
      },
      {
        kind: 'deploy.started',
        rollout: 'r1',
        environment: 'prod',
        region: 'eu',
        digest: NEW,
        container: 'c',
        port: 1,
      },
      {
        kind: 'deploy.step',
        rollout: 'r1',
        environment: 'prod',
        region: 'eu',
        step: 0,
        steps: 4,
        weights: { canary: 5, stable: 95 },
      },
      { kind: 'deploy.gate', rollout: 'r1', environment: 'prod', sample: sample('eu', 0, 0.5) },
      {
        kind: 'deploy.rollback',
        rollout: 'r1',
        environment: 'prod',
        region: 'eu',
        to: OLD,
        from: NEW,
        reason: 'error-rate 0.5 > 0.01',
        ms: 3,
      },
      { kind: 'deploy.done', rollout: 'r1', environment: 'prod', outcome: 'rolled-back' },
    ];
    const passed = drive(events, false);
    expect(passed).toEqual(events);
    const log = openAuditLog(store);
    try {
      const got = log.list().map((r) => r.entry);
      expect(got.map((e) => e.type)).toEqual(['deploy.step', 'deploy.rollback']);
      expect(got[0]!.data).toEqual({
        environment: 'prod',
        region: 'eu',
        artifact: NEW,
        previous: OLD,
        step: 0,
        weights: { [NEW]: 5, [OLD]: 95 },
        gates: [{ name: 'error-rate', value: 0.5, threshold: 0.01, op: '<=', pass: false }],
        decision: 'rollback',
      });
      expect(got[1]!.data).toMatchObject({
        from: NEW,
        to: OLD,
        automatic: true,
        reason: 'error-rate 0.5 > 0.01',
      });
      expect(got[1]!.data).not.toHaveProperty('by');
      expect(log.verify().ok).toBe(true);
    } finally {
      log.close();
    }
  });

  it('records a promotion after the last step, a rollback by hand with who asked, and drift with the running digest', () => {
    drive(
      [
        {
          kind: 'deploy.started',
          rollout: 'r2',
          environment: 'prod',
          region: 'us',
          digest: NEW,
          container: 'c',
          port: 1,
        },
        {
          kind: 'deploy.step',
          rollout: 'r2',
          environment: 'prod',
          region: 'us',
          step: 3,
          steps: 4,
          weights: { canary: 100, stable: 0 },
        },
        { kind: 'deploy.gate', rollout: 'r2', environment: 'prod', sample: sample('us', 3, 0) },
        {
          kind: 'deploy.promoted',
          rollout: 'r2',
          environment: 'prod',
          region: 'us',
          digest: NEW,
          previous: OLD,
        },
        {
          kind: 'deploy.rollback',
          rollout: 'r3',
          environment: 'prod',
          region: 'us',
          to: OLD,
          from: NEW,
          reason: 'rolled back by hand',
          ms: 1,
        },
        {
          kind: 'deploy.drift',
          environment: 'prod',
          region: 'us',
          what: 'container',
          expected: OLD,
          actual: NEW,
          detail: 'x',
        },
      ],
      true,
    );
    const log = openAuditLog(store);
    try {
      const got = log.list().map((r) => r.entry);
      expect(got.map((e) => e.type)).toEqual([
        'deploy.step',
        'deploy.promotion',
        'deploy.rollback',
        'deploy.drift',
      ]);
      expect(got[0]!.data).toMatchObject({ decision: 'promote', step: 3 });
      expect(got[1]!.data).toEqual({
        environment: 'prod',
        region: 'us',
        artifact: NEW,
        previous: OLD,
      });
      expect(got[2]!.data).toMatchObject({ automatic: false, by: 'ana' });
      expect(got[3]!.data).toEqual({
        environment: 'prod',
        region: 'us',
        expected: OLD,
        running: [NEW],
      });
    } finally {
      log.close();
    }
  });
});
