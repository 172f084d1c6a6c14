import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigProblem } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import { sha256 } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { AirlockEvent } from '../core/events.js';
import { STATE_FORMAT, writeState, type Router, type Runtime } from '../deploy/index.js';
import { runCli } from '../../test/helpers/cli.js';
import { Store } from '../store/index.js';
import {
  checkpointAfter,
  openAuditLog,
  recordAudit,
  runAuditCheckpoint,
  runAuditVerify,
} from './audit.js';
import { runRollback } from './deploy.js';
import { runKeygen } from './keygen.js';

const NEW = sha256(Buffer.from('new release'));
const OLD = sha256(Buffer.from('old release'));
const PASSWORD = 'pw';

const TARGETS = `version: 1
name: shop
targets:
  web: { sources: ["src/**"], steps: ["true"], outputs: ["dist/**"] }
`;

const ENVIRONMENTS = `environments:
  prod:
    policy: policy.yaml
    regions:
      eu:
        registry: 127.0.0.1:9/shop/web
        runtime: podman
        router: { haproxy: /nonexistent/eu.sock, backend: web }
        metrics: { prometheus: "http://127.0.0.1:9" }
`;

/** A clock the test moves. */
function manualClock(start: number): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('audit checkpoints: after a deploy that moved traffic, by count, by age', () => {
  // One key pair for every test (keygen's scrypt is the slow part), copied into each project.
  let keys: string;
  beforeAll(async () => {
    keys = mkdtempSync(join(tmpdir(), 'airlock-audit-checkpoint-keys-'));
    await runKeygen({ dir: keys, password: PASSWORD });
  });
  afterAll(() => {
    rmSync(keys, { recursive: true, force: true });
  });
  let dir: string;
  let project: string;
  let storeDir: string;
  let events: AirlockEvent[];
  const sink = (e: AirlockEvent): void => {
    events.push(e);
  };
  const warnings = (): string[] =>
    events
      .filter((e) => e.type === 'log' && e.level === 'warn')
      .map((e) => (e as { message: string }).message)
      .filter((m) => m.startsWith('audit'));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-audit-checkpoint-'));
    project = join(dir, 'project');
    storeDir = join(dir, 'store');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'a');
    writeFileSync(join(project, 'policy.yaml'), 'version: 1\n');
    cpSync(keys, join(project, 'keys'), { recursive: true });
    events = [];
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const writeYaml = (audit: string): void =>
    writeFileSync(join(project, 'airlock.yaml'), `${TARGETS}${ENVIRONMENTS}${audit}`);

  /** A region whose stable slot `a` runs NEW and whose idle slot `b` keeps OLD: what a rollback needs. */
  async function promotedState(): Promise<void> {
    const store = await Store.open(storeDir);
    try {
      await writeState(store.paths.deploy, {
        format: STATE_FORMAT,
        environment: 'prod',
        regions: {
          eu: {
            stable: 'a',
            slots: {
              a: { digest: NEW, container: 'web-new', port: 1 },
              b: { digest: OLD, container: 'web-old', port: 2 },
            },
            verified: NEW,
          },
        },
        rollout: null,
      });
    } finally {
      store.close();
    }
  }

  /** The outside world of the rollback: a router and a runtime that record what they are told. */
  function world(): { weights: Record<string, number>[]; router: Router; runtime: Runtime } {
    const weights: Record<string, number>[] = [];
    return {
      weights,
      router: {
        point: () => Promise.resolve(),
        weights: (w) => {
          weights.push(w);
          return Promise.resolve();
        },
        servers: () => Promise.resolve([]),
      },
      runtime: {
        start: () => Promise.resolve(),
        stop: () => Promise.resolve(),
        list: () => Promise.resolve([]),
        inspect: () => Promise.resolve(undefined),
      },
    };
  }

  async function rollback(password: string | undefined) {
    const w = world();
    const report = await runRollback({
      project,
      environment: 'prod',
      store: storeDir,
      events: sink,
      reason: 'bad release',
      // No registry answers here: the environment tag is not moved (the rollback does not wait for it).
      retries: 0,
      world: { router: () => w.router, runtime: w.runtime },
      audit: { user: 'ana', host: 'h1', signing: password === undefined ? {} : { password } },
    });
    return { report, weights: w.weights };
  }

  it('signs the head with the project key after a rollback moved traffic; the tail is then protected', async () => {
    // Never due by count or age: only the moved traffic makes this checkpoint.
    writeYaml('audit:\n  signingKey: keys/cosign.key\n  checkpoint: { entries: 0, interval: 0 }\n');
    await promotedState();
    const { report, weights } = await rollback(PASSWORD);
    expect(report.outcome).toBe('rolled-back');
    expect(weights).toEqual([{ a: 0, b: 100 }]);
    const v = await runAuditVerify({
      store: storeDir,
      events: () => {},
      keys: [join(project, 'keys', 'cosign.pub')],
    });
    expect(v.ok).toBe(true);
    const log = await Store.open(storeDir).then((s) => {
      const l = openAuditLog(s);
      try {
        return l.list({}).map((r) => r.entry.type);
      } finally {
        l.close();
        s.close();
      }
    });
    expect(log).toEqual(['deploy.rollback']);
    // The checkpoint covers the rollback entry, verified against the project's public key.
    expect(v.checkpoints).toHaveLength(1);
    expect(v.checkpoints[0]).toMatchObject({ seq: 1, consistent: true, signature: 'verified' });
    expect(v.tail).toEqual({ checkpointed: 1, unprotected: 0, kept: false });
    expect(warnings()).toEqual([]);
  });

  it('without a signing key the rollback still happens, and one warning says how much of the tail is unprotected', async () => {
    writeYaml('');
    await promotedState();
    const { report, weights } = await rollback(PASSWORD);
    expect(report.outcome).toBe('rolled-back');
    expect(weights).toEqual([{ a: 0, b: 100 }]);
    const w = warnings();
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/no checkpoint since entry 0: entries 1–1 are not protected/);
    expect(w[0]).toMatch(/audit\.signingKey in airlock\.yaml/);
    const v = await runAuditVerify({ store: storeDir, events: () => {} });
    expect(v.checkpoints).toEqual([]);
    expect(v.tail).toEqual({ checkpointed: 0, unprotected: 1, kept: false });
  });

  it('with the key but no password the rollback still happens and the warning names the password variables', async () => {
    writeYaml('audit:\n  signingKey: keys/cosign.key\n');
    await promotedState();
    const { report } = await rollback(undefined);
    expect(report.outcome).toBe('rolled-back');
    expect(warnings()).toEqual([
      expect.stringMatching(
        /no password for .*cosign\.key \(set AIRLOCK_PASSWORD or COSIGN_PASSWORD\)/,
      ),
    ]);
  });

  it('is due once `entries` entries follow the last checkpoint, not before', async () => {
    writeYaml('audit:\n  signingKey: keys/cosign.key\n  checkpoint: { entries: 3, interval: 0 }\n');
    const config = await loadConfig(project);
    const store = await Store.open(storeDir);
    try {
      const push = (n: number): void => {
        recordAudit(
          store,
          {
            type: 'push',
            data: {
              registry: 'r',
              repository: 'x',
              digest: NEW,
              reference: `r/x@${NEW}`,
              attachments: n,
            },
          },
          { user: 'ana', host: 'h1' },
        );
      };
      const env = { signing: { password: PASSWORD } };
      push(1);
      push(2);
      expect(await checkpointAfter(store, config, env, sink)).toEqual({});
      push(3);
      const third = await checkpointAfter(store, config, env, sink);
      expect(third.made?.seq).toBe(3);
      expect(third.due).toMatch(/3 entries since the last checkpoint \(every 3\)/);
      push(4);
      push(5);
      // Counted from the last checkpoint (3), not from the start.
      expect(await checkpointAfter(store, config, env, sink)).toEqual({});
      push(6);
      expect((await checkpointAfter(store, config, env, sink)).made?.seq).toBe(6);
    } finally {
      store.close();
    }
    const v = await runAuditVerify({ store: storeDir, events: () => {} });
    expect(v.checkpoints.map((c) => c.seq).sort()).toEqual([3, 6]);
    expect(v.tail.unprotected).toBe(0);
  });

  it('is due once the last checkpoint is `interval` old', async () => {
    writeYaml(
      'audit:\n  signingKey: keys/cosign.key\n  checkpoint: { entries: 0, interval: 1h }\n',
    );
    const config = await loadConfig(project);
    const clock = manualClock(Date.UTC(2026, 0, 1));
    const store = await Store.open(storeDir, { clock });
    try {
      const rec = (): void => {
        recordAudit(
          store,
          {
            type: 'repro',
            data: { target: 'web', actionKey: NEW, reproducible: true, differences: 0 },
          },
          { user: 'ana', host: 'h1' },
        );
      };
      const env = { signing: { password: PASSWORD } };
      rec();
      clock.advance(59 * 60_000);
      expect(await checkpointAfter(store, config, env, sink)).toEqual({});
      clock.advance(2 * 60_000);
      const first = await checkpointAfter(store, config, env, sink);
      expect(first.made?.seq).toBe(1);
      rec();
      clock.advance(30 * 60_000);
      expect(await checkpointAfter(store, config, env, sink)).toEqual({});
      clock.advance(31 * 60_000);
      const second = await checkpointAfter(store, config, env, sink);
      expect(second.made?.seq).toBe(2);
      expect(second.due).toMatch(/the last checkpoint is 61 min old \(every 60 min\)/);
    } finally {
      store.close();
    }
  });

  it('audit verify tells a verifier without a kept checkpoint how much of the tail is unprotected', async () => {
    writeYaml('');
    const store = await Store.open(storeDir);
    try {
      for (let i = 0; i < 5; i++)
        recordAudit(
          store,
          {
            type: 'repro',
            data: { target: 'web', actionKey: NEW, reproducible: true, differences: i },
          },
          { user: 'ana', host: 'h1' },
        );
    } finally {
      store.close();
    }
    expect((await runAuditVerify({ store: storeDir, events: () => {} })).tail).toEqual({
      checkpointed: 0,
      unprotected: 5,
      kept: false,
    });
    const none = await runCli(['--store', storeDir, 'audit', 'verify']);
    expect(none.status).toBe(0);
    expect(none.stdout).toContain('no checkpoint: entries 1–5 are unprotected');
    expect(none.stdout).toContain('no checkpoint kept outside the store was given');
    const out = join(dir, 'kept.json');
    await runAuditCheckpoint({
      store: storeDir,
      events: () => {},
      key: join(project, 'keys', 'cosign.key'),
      password: PASSWORD,
      output: out,
    });
    const s2 = await Store.open(storeDir);
    try {
      recordAudit(
        s2,
        {
          type: 'repro',
          data: { target: 'web', actionKey: NEW, reproducible: false, differences: 9 },
        },
        { user: 'ana', host: 'h1' },
      );
    } finally {
      s2.close();
    }
    const v = await runAuditVerify({ store: storeDir, events: () => {}, checkpoints: [out] });
    expect(v.ok).toBe(true);
    expect(v.tail).toEqual({ checkpointed: 5, unprotected: 1, kept: true });
    const cli = await runCli(['--store', storeDir, 'audit', 'verify', '--checkpoint', out]);
    expect(cli.stdout).toContain(
      'no checkpoint since entry 5: entries 6–6 are unprotected; a cut-off or rewrite among them cannot be detected',
    );
    expect(cli.stdout).not.toContain('kept outside the store');
    const json = JSON.parse(
      (await runCli(['--store', storeDir, 'audit', 'verify', '--json'])).stdout,
    ) as { tail: unknown };
    expect(json.tail).toEqual({ checkpointed: 5, unprotected: 1, kept: false });
  });
});

describe('audit: in airlock.yaml', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-audit-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('defaults to no key, every 100 entries or 24 h, and resolves the key against the project', async () => {
    writeFileSync(join(dir, 'airlock.yaml'), TARGETS);
    expect((await loadConfig(dir)).audit).toEqual({
      checkpointEntries: 100,
      checkpointIntervalMs: 86_400_000,
    });
    writeFileSync(
      join(dir, 'airlock.yaml'),
      `${TARGETS}audit:\n  signingKey: keys/cosign.key\n  checkpoint: { entries: 10, interval: 30m }\n`,
    );
    expect((await loadConfig(dir)).audit).toEqual({
      signingKey: join(dir, 'keys', 'cosign.key'),
      checkpointEntries: 10,
      checkpointIntervalMs: 1_800_000,
    });
  });

  it('reports every wrong value and unknown key at its file:line:col with the fix', async () => {
    const file = join(dir, 'airlock.yaml');
    writeFileSync(
      file,
      `${TARGETS}audit:\n  signingKey: 3\n  checkpoint:\n    entries: -1\n    interval: soon\n    entires: 2\n  checkpoints: x\n`,
    );
    let err: unknown;
    try {
      await loadConfig(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AirlockError);
    const problems = (err as AirlockError).details?.['problems'] as ConfigProblem[];
    expect(problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`)).toEqual([
      '6:15 audit.signingKey: "signingKey" must be the path of a private key file',
      '8:14 audit.checkpoint.entries: "entries" must be a whole number of entries (0 or more), not -1',
      '9:15 audit.checkpoint.interval: "interval" must be a duration like 30m, 12h or 7d, not "soon"',
      '10:5 audit.checkpoint.entires: unknown key "entires" in audit.checkpoint; did you mean "entries"?',
      '11:3 audit.checkpoints: unknown key "checkpoints" in audit; did you mean "checkpoint"?',
    ]);
    expect(problems.every((p) => p.file === file && p.fix.length > 0)).toBe(true);
  });
});
