// The deploy stage end to end with real servers: podman runs the service
// image, HAProxy routes between the stable and new version (weights through
// its runtime API), Prometheus scrapes HAProxy and the services, two
// docker-registry instances are the region registries. One set of servers
// serves every test of the file, in order: each test starts from the state the
// one before left.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../src/core/index.js';
import { ociArch } from '../src/oci/index.js';
import { LABELS, haproxyRouter, type DeployEvent, type GateSample } from '../src/deploy/index.js';
import { openAuditLog } from '../src/pipeline/audit.js';
import { runBuild } from '../src/pipeline/build.js';
import { runDeploy, runRollback, runStatus, type DeployReport } from '../src/pipeline/deploy.js';
import { runKeygen } from '../src/pipeline/keygen.js';
import { runSign } from '../src/pipeline/sign.js';
import { SHIP_STAGES, runShip } from '../src/pipeline/ship.js';
import { RegistryClient } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import {
  loadGenerator,
  startHaproxy,
  startPrometheus,
  startTamperingRegistry,
  type Hit,
  type TestHaproxy,
  type TestPrometheus,
} from './helpers/deploy-env.js';
import { podmanArgs, removeImages, requirePodman } from './helpers/podman.js';
import { runCli } from './helpers/cli.js';
import { startRegistry, tempDir, type TestRegistry, type TestServer } from './helpers/registry.js';
import { pushBaseImage, serviceProject, type Release } from './helpers/service.js';

// Prometheus scrapes every 250 ms, so a 1.2 s hold (the gates' window) holds
// four or more scrapes: rate() and the p99 always have data for a good release.
const SCRAPE_MS = 250;
const HOLD = '1200ms';
const CLI = join(import.meta.dirname, '..', 'bin', 'airlock.js');
// The rolled-out environment's own name: status counts every container of the
// environment in a region, and another checkout's suite may deploy on the same podman.
const PROD = `prod-${process.pid}`;

describe('airlock deploy, rollback and status', () => {
  let dir: string;
  let project: string;
  let store: string;
  const registries: TestRegistry[] = [];
  const routers: Record<string, TestHaproxy> = {};
  let prometheus: TestPrometheus;
  let tampering: TestServer;
  let base: string;
  const releases: Record<string, Digest> = {};

  const insecure = (): string[] => [...registries.map((r) => r.host), tampering.host];

  const regionYaml = (
    name: string,
    registry: string,
    router: TestHaproxy,
    prom: string,
    sd = true,
  ): string[] => [
    `      ${name}:`,
    `        registry: ${registry}/shop/service`,
    '        runtime: podman',
    `        router: { haproxy: ${router.socket}, backend: ${router.backend} }`,
    `        metrics: { prometheus: "${prom}"${sd ? `, targets: ${join(dir, `${router.backend}.json`)}` : ''} }`,
  ];

  /** Writes airlock.yaml with every environment the tests use. */
  const writeConfig = (downUrl: string): void => {
    const yaml = readFileSync(join(project, 'airlock.yaml'), 'utf8').replace(
      /\nenvironments:[^]*$/,
      '',
    );
    const [eu, us] = registries.map((r) => r.host) as [string, string];
    const gates = [
      '    gates:',
      '      - { name: error-rate, max: 0.05, minRequests: 2 }',
      // A new container's /metrics is scraped once Prometheus's discovery passes it on
      // (throttled to every 5 s): the first step of a region extends until then.
      '      - { name: latency-p99, max: 2, minRequests: 2, onNoData: extend, extendLimit: 8 }',
    ];
    const rollout = `    rollout: { steps: [5, 25, 50, 100], hold: ${HOLD}, readiness: { path: /healthz, timeout: 20s } }`;
    const failing = (env: string, query: string, prom = prometheus.url): string[] => [
      `  ${env}:`,
      '    policy: policy.yaml',
      '    regions:',
      ...regionYaml('eu', eu, routers[env]!, prom, false),
      // These gates read no traffic: the hold needs no scrapes in it.
      `    rollout: { steps: [5, 100], hold: 100ms }`,
      '    gates:',
      `      - { name: probe, query: ${JSON.stringify(query)}, max: 1, minRequests: 0 }`,
    ];
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        yaml.trimEnd(),
        'environments:',
        `  ${PROD}:`,
        '    policy: policy.yaml',
        '    regions:',
        ...regionYaml('eu', eu, routers.eu!, prometheus.url),
        ...regionYaml('us', us, routers.us!, prometheus.url),
        rollout,
        ...gates,
        '  strict:',
        '    policy: strict-policy.yaml',
        '    regions:',
        ...regionYaml('eu', eu, routers.eu!, prometheus.url),
        '  tampered:',
        '    policy: policy.yaml',
        '    regions:',
        ...regionYaml('eu', eu, routers.eu!, prometheus.url),
        ...regionYaml('us', tampering.host, routers.us!, prometheus.url),
        ...failing('nodata', 'sum(rate(no_such_metric_total[5s]))'),
        ...failing('nan', 'vector(0) / vector(0)'),
        ...failing('broken', 'sum(rate(haproxy_server_http_responses_total[5s]'),
        ...failing('down', 'vector(0)', downUrl),
        '',
      ].join('\n'),
    );
  };

  /** Signs the service as last built (SBOM and provenance statements). */
  const sign = async (): Promise<void> => {
    await runSign({
      project,
      store,
      targets: ['service'],
      key: join(project, 'cosign.key'),
      password: '',
      events: () => {},
    });
  };

  /** Builds and (unless `signed` is false) signs a release; returns its artifact digest. */
  const release = async (r: Release, signed = true): Promise<Digest> => {
    writeFileSync(join(project, 'src', 'release.json'), `${JSON.stringify(r)}\n`);
    const built = await runBuild({
      project,
      store,
      targets: ['service'],
      insecure: insecure(),
      events: () => {},
    });
    const digest = built.targets.find((t) => t.name === 'service')!.artifact as Digest;
    if (signed) await sign();
    releases[r.version] = digest;
    return digest;
  };

  /**
   * The releases the later tests deploy (v2 good, v3 failing, v4 unsigned), built one
   * after another while the first release is being deployed: its steps mostly wait.
   */
  let later: Promise<void> | undefined;
  const buildLater = (): Promise<void> => {
    later ??= (async () => {
      await release({ version: 'v2' });
      await release({ version: 'v3', fail: true });
      await release({ version: 'v4' }, false);
    })();
    return later;
  };

  const deploy = async (env: string, artifact: Digest, times?: Map<DeployEvent, number>) => {
    const events: DeployEvent[] = [];
    const report = await runDeploy({
      project,
      store,
      environment: env,
      artifact,
      insecure: insecure(),
      events: () => {},
      onEvent: (e) => {
        events.push(e);
        times?.set(e, Date.now());
      },
    });
    return { report, events };
  };

  const weights = async (router: TestHaproxy): Promise<Record<string, number>> =>
    Object.fromEntries(
      (await haproxyRouter(router.socket, router.backend).servers()).map((s) => [s.name, s.weight]),
    );

  /** This file's containers: deploy-labelled and from its own registries (never another run's). */
  const containers = (): string[] =>
    execFileSync(
      'podman',
      ['ps', '-a', '--filter', `label=${LABELS.environment}`, '--format', '{{.Names}} {{.Image}}'],
      { encoding: 'utf8' },
    )
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([n, image]) => n && image && registries.some((r) => image.startsWith(`${r.host}/`)))
      .map(([n]) => n!);

  beforeAll(async () => {
    requirePodman();
    dir = await tempDir('deploy');
    store = join(dir, 'store');
    // Every server starts in parallel; the base image is pushed as soon as its registry is up.
    mkdirSync(join(dir, 'down'));
    const names = ['eu', 'us', 'nodata', 'nan', 'broken', 'down'];
    const [eu, us, , down] = await Promise.all([
      startRegistry(),
      startRegistry(),
      Promise.all(
        names.map(async (name) => {
          routers[name] = await startHaproxy(dir, `web_${name}`);
        }),
      ),
      // A Prometheus that was running and is stopped: its port answers nothing.
      startPrometheus(join(dir, 'down'), [], []).then(async (p) => {
        await p.stop();
        return p;
      }),
    ]);
    registries.push(eu, us);
    const publisher = await Store.open(join(dir, 'publisher'));
    const pushed = pushBaseImage(
      publisher,
      new RegistryClient(eu.host, { insecure: [eu.host] }),
    ).finally(() => publisher.close());
    [tampering, prometheus] = await Promise.all([
      startTamperingRegistry(us),
      startPrometheus(
        dir,
        // The failing environments' gates read no HAProxy metric: their routers are not scraped.
        ['eu', 'us'].map((n) => `127.0.0.1:${routers[n]!.metricsPort}`),
        ['web_eu', 'web_us'].map((b) => join(dir, `${b}.json`)),
        SCRAPE_MS,
      ),
    ]);
    base = `${eu.host}/base/node@${await pushed}`;
    project = serviceProject(join(dir, 'project'), base, { version: 'v1' });
    await runKeygen({ dir: project, password: '' });
    writeFileSync(
      join(project, 'policy.yaml'),
      'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance]\n',
    );
    writeFileSync(
      join(project, 'strict-policy.yaml'),
      'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance]\nbuilder: https://builder.example/not-this-one\n',
    );
    writeConfig(down.url);
  }, 240_000);

  afterAll(async () => {
    for (const c of containers())
      execFileSync('podman', ['rm', '-f', '-t', '0', c], { stdio: 'ignore' });
    removeImages(registries.map((r) => r.host));
    await prometheus?.stop();
    for (const r of Object.values(routers)) await r.stop();
    await tampering?.stop();
    for (const r of registries) await r.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ships the first release: every stage, then 100% in both regions (no stable version to shift from)', async () => {
    const load: ReturnType<typeof loadGenerator>[] = [];
    try {
      writeFileSync(join(project, 'src', 'release.json'), `${JSON.stringify({ version: 'v1' })}\n`);
      const shipped = await runShip({
        project,
        store,
        environment: PROD,
        key: join(project, 'cosign.key'),
        password: '',
        insecure: insecure(),
        // Traffic for the gates from the deploy stage on (the stages before need none);
        // the deploy mostly waits, so the next releases are built meanwhile.
        events: (e) => {
          if (e.type !== 'log' || e.message !== 'ship: deploy') return;
          for (const r of ['eu', 'us'])
            load.push(loadGenerator(`http://127.0.0.1:${routers[r]!.port}/`));
          buildLater().catch(() => {});
        },
      });
      expect(shipped.failed, JSON.stringify(shipped.stages, null, 1)).toBeUndefined();
      expect(shipped.stages.map((x) => x.stage)).toEqual([...SHIP_STAGES]);
      releases.v1 = shipped.artifact!;
      const report = shipped.deploy!;
      expect(report.outcome, JSON.stringify(report.rollout.history, null, 1)).toBe('promoted');
      expect(report.rollout.promoted).toEqual(['eu', 'us']);
      expect(report.rollout.artifact).toBe(shipped.artifact);
      expect(shipped.status?.drift).toEqual([]);
    } finally {
      for (const l of load) await l.stop();
    }
    for (const r of ['eu', 'us']) {
      const res = await fetch(`http://127.0.0.1:${routers[r]!.port}/`);
      expect(res.headers.get('x-release')).toBe('v1');
    }
  }, 180_000);

  it('promotes a good release through every step in both regions, the measured split within 5 points', async () => {
    const times = new Map<DeployEvent, number>();
    await buildLater();
    const v2 = releases.v2!;
    const load = ['eu', 'us'].map((r) => ({
      region: r,
      gen: loadGenerator(`http://127.0.0.1:${routers[r]!.port}/`),
    }));
    let result: { report: DeployReport; events: DeployEvent[] };
    try {
      result = await deploy(PROD, v2, times);
    } finally {
      for (const l of load) await l.gen.stop();
    }
    const { report, events } = result;
    expect(report.outcome, report.rollout.reason).toBe('promoted');
    const steps = events.filter(
      (e): e is Extract<DeployEvent, { kind: 'deploy.step' }> => e.kind === 'deploy.step',
    );
    const first = (w: number) => steps.filter((s) => s.weights.canary === w).map((s) => s.region);
    expect([...new Set(steps.map((s) => `${s.region}:${s.weights.canary}`))]).toEqual([
      'eu:5',
      'eu:25',
      'eu:50',
      'eu:100',
      'us:5',
      'us:25',
      'us:50',
      'us:100',
    ]);
    expect(first(5)).toContain('eu');
    // The share of requests answered by v2 while each step was held, from the load generator.
    for (const s of steps) {
      // From just after the weights changed (answers in flight excluded) until the gates
      // are read; the weights change again only after that.
      const from = times.get(s)! + 300;
      const next = events.slice(events.indexOf(s) + 1).find((e) => e.kind === 'deploy.gate');
      const to = times.get(next!)! - 100;
      const hits = load
        .find((l) => l.region === s.region)!
        .gen.hits.filter((h) => h.at >= from && h.at <= to);
      expect(hits.length).toBeGreaterThan(20);
      const share = (100 * hits.filter((h) => h.release === 'v2').length) / hits.length;
      expect(
        Math.abs(share - s.weights.canary),
        `${s.region} at ${s.weights.canary}%: ${share.toFixed(1)}%`,
      ).toBeLessThanOrEqual(5);
    }
    // Every gate sample is kept with the rollout, with its value and threshold.
    const samples = report.rollout.samples;
    expect(
      samples.filter((x) => x.gate === 'error-rate' && x.verdict === 'pass').length,
    ).toBeGreaterThanOrEqual(8);
    expect(samples.every((x) => x.threshold.max !== undefined)).toBe(true);
    for (const l of load) expect(l.gen.hits.filter((h) => h.status !== 200)).toEqual([]);
  }, 240_000);

  // The first release, which the registry already has: nothing to upload.
  it('promotes nothing when Prometheus is stopped or a query gives no data, NaN or an error', async () => {
    const artifact = releases.v1!;
    const verdicts: Record<string, GateSample | undefined> = {};
    // One after another: side by side, their pushes of the same blobs to the one
    // registry race (docker-registry answers DIGEST_INVALID to one of them).
    for (const env of ['nodata', 'nan', 'broken', 'down']) {
      const { report } = await deploy(env, artifact);
      expect(report.outcome, `${env}: ${report.rollout.reason ?? ''}`).toBe('rolled-back');
      expect(report.rollout.promoted, env).toEqual([]);
      verdicts[env] = report.rollout.samples[0];
      expect(await weights(routers[env]!), env).toMatchObject({ a: 0, b: 0 });
    }
    expect(verdicts.nodata).toMatchObject({ verdict: 'no-data', value: null });
    expect(verdicts.nan).toMatchObject({ verdict: 'no-data', value: null });
    expect(verdicts.broken?.verdict).toBe('error');
    expect(verdicts.down?.verdict).toBe('error');
    expect(verdicts.down?.detail).toContain('unreachable');
  }, 180_000);

  it('rolls a failing release back at the first step; stable users see no error', async () => {
    await buildLater();
    const v3 = releases.v3!;
    const load = loadGenerator(`http://127.0.0.1:${routers.eu!.port}/`);
    const times = new Map<DeployEvent, number>();
    let result: { report: DeployReport; events: DeployEvent[] };
    try {
      result = await deploy(PROD, v3, times);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await load.stop();
    }
    const { report, events } = result;
    expect(report.outcome).toBe('rolled-back');
    expect(report.rollout.promoted).toEqual([]);
    expect(events.filter((e) => e.kind === 'deploy.step')).toHaveLength(1);
    const failed = report.rollout.samples.find((x) => x.gate === 'error-rate')!;
    expect(failed).toMatchObject({ verdict: 'fail', region: 'eu', weight: 5 });
    expect(failed.value).toBeGreaterThan(0.5);
    expect(report.rollout.reason).toContain('error-rate');
    const rollback = events.find((e) => e.kind === 'deploy.rollback')!;
    expect(rollback).toMatchObject({ region: 'eu', to: releases.v2 });
    // Stable users: every answer from v2 was a success, and no request failed outright.
    expect(load.hits.filter((h: Hit) => h.release === 'v2' && h.status !== 200)).toEqual([]);
    expect(load.hits.filter((h: Hit) => h.error !== undefined)).toEqual([]);
    // After the decision, every request is answered by v2 again.
    const decided = times.get(rollback)!;
    expect(load.hits.filter((h) => h.at > decided + 100 && h.release !== 'v2')).toEqual([]);
    expect(await weights(routers.eu!)).toMatchObject({ b: 100, a: 0 });
    expect(await weights(routers.us!)).toMatchObject({ b: 100 });
    // The audit log keeps the step with the failing gate's value and the automatic rollback.
    const st = await Store.open(store);
    const log = openAuditLog(st);
    try {
      const about = (d: unknown): boolean => {
        const x = d as { artifact?: string; from?: string };
        return x.artifact === report.rollout.artifact || x.from === report.rollout.artifact;
      };
      const mine = log
        .list({ types: ['deploy.step', 'deploy.rollback'] })
        .map((r) => r.entry)
        .filter((e) => about(e.data));
      expect(mine.map((e) => e.type)).toEqual(['deploy.step', 'deploy.rollback']);
      expect(mine[0]!.data).toMatchObject({ region: 'eu', decision: 'rollback' });
      const gate = (
        mine[0]!.data as { gates: { name: string; value: number | null; pass: boolean }[] }
      ).gates.find((g) => g.name === 'error-rate')!;
      expect(gate).toMatchObject({ value: failed.value, pass: false });
      expect(mine[1]!.data).toMatchObject({ region: 'eu', to: releases.v2, automatic: true });
    } finally {
      log.close();
      st.close();
    }
  }, 180_000);

  it('moves no traffic for an unsigned artifact, a failing policy, or a registry serving another digest', async () => {
    const before = {
      eu: await weights(routers.eu!),
      us: await weights(routers.us!),
      containers: containers().sort(),
    };
    await buildLater();
    const unsigned = releases.v4!;
    const a = await deploy(PROD, unsigned);
    expect(a.report.outcome).toBe('refused');
    expect(a.report.rollout.reason).toContain('signature: no statement');

    // The same artifact once signed: refused by a policy it fails, then by a registry
    // serving another digest.
    await sign();
    const signed = unsigned;
    const b = await deploy('strict', signed);
    expect(b.report.outcome).toBe('refused');
    expect(b.report.rollout.reason).toContain('builder');

    const c = await deploy('tampered', signed);
    expect(c.report.outcome).toBe('refused');
    expect(c.report.rollout.reason).toContain('region us');

    for (const r of [a, b, c])
      expect(
        r.events.filter((e) => e.kind === 'deploy.step' || e.kind === 'deploy.started'),
      ).toEqual([]);
    expect({
      eu: await weights(routers.eu!),
      us: await weights(routers.us!),
      containers: containers().sort(),
    }).toEqual(before);
  }, 180_000);

  it('status sees no drift, then a container started by hand and a tag moved in one registry', async () => {
    const clean = await runStatus({
      project,
      store,
      environment: PROD,
      insecure: insecure(),
      events: () => {},
    });
    expect(clean.drift).toEqual([]);
    expect(clean.regions.map((r) => r.verified)).toEqual([releases.v2, releases.v2]);
    // us keeps v1 idle beside v2 for instant rollback; in eu, v3 took (and gave back) v1's slot.
    const running = (i: number) =>
      clean.regions[i]!.containers.filter((c) => c.running)
        .map((c) => c.digest)
        .sort();
    expect(running(1)).toEqual([releases.v1, releases.v2].sort());
    expect(running(0)).toEqual([releases.v2]);

    const rogue = 'airlock-test-rogue';
    execFileSync(
      'podman',
      podmanArgs([
        'run',
        '-d',
        '--name',
        rogue,
        '--network',
        'host',
        '--tls-verify=false',
        '--label',
        `${LABELS.environment}=${PROD}`,
        '--label',
        `${LABELS.region}=eu`,
        '-e',
        'PORT=1',
        `${registries[0]!.host}/shop/service@${releases.v3}`,
      ]),
      { stdio: 'pipe' },
    );
    // The tag of us moves to another release.
    const client = new RegistryClient(registries[1]!.host, { insecure: [registries[1]!.host] });
    // v1 is there: the first deploy pushed it.
    const moved = await client.getManifest('shop/service', releases.v1!);
    await client.putManifest('shop/service', PROD, moved.bytes, moved.descriptor.mediaType);
    try {
      const drifted = await runStatus({
        project,
        store,
        environment: PROD,
        insecure: insecure(),
        events: () => {},
      });
      const container = drifted.drift.find((d) => d.what === 'container');
      expect(container).toMatchObject({ region: 'eu', expected: releases.v2, actual: releases.v3 });
      const registry = drifted.drift.find((d) => d.what === 'registry');
      expect(registry).toMatchObject({ region: 'us', expected: releases.v2, actual: releases.v1 });
      expect(drifted.drift.filter((d) => d.region === 'eu' && d.what === 'registry')).toEqual([]);
    } finally {
      execFileSync('podman', ['rm', '-f', '-t', '0', rogue], { stdio: 'ignore' });
      const v2 = await client.getManifest('shop/service', releases.v2!);
      await client.putManifest('shop/service', PROD, v2.bytes, v2.descriptor.mediaType);
    }
  }, 120_000);

  it('status: an index whose entry for this platform is the verified manifest is no drift; an index of another release is', async () => {
    const client = new RegistryClient(registries[1]!.host, { insecure: [registries[1]!.host] });
    const entry = async (d: Digest, architecture: string) => {
      const m = await client.getManifest('shop/service', d);
      return {
        mediaType: m.descriptor.mediaType,
        digest: m.descriptor.digest,
        size: m.descriptor.size,
        platform: { os: 'linux', architecture },
      };
    };
    const arch = ociArch(process.arch);
    const other = arch === 'amd64' ? 'arm64' : 'amd64';
    /** Moves us's environment tag to an index; returns the index digest. */
    const tagIndex = async (here: Digest, there: Digest): Promise<Digest> => {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [await entry(there, other), await entry(here, arch)],
        }),
      );
      await client.putManifest(
        'shop/service',
        PROD,
        bytes,
        'application/vnd.oci.image.index.v1+json',
      );
      return sha256(bytes);
    };
    const status = () =>
      runStatus({ project, store, environment: PROD, insecure: insecure(), events: () => {} });
    try {
      // Published as a multi-platform index: the tag serves the index digest, which differs from v2's.
      const same = await tagIndex(releases.v2!, releases.v1!);
      const a = await status();
      expect(a.regions[1]!.registry).toBe(same);
      expect(same).not.toBe(releases.v2);
      expect(a.drift).toEqual([]);
      // An index whose entry for this platform is v1 (v2 only for another platform) is drift.
      const moved = await tagIndex(releases.v1!, releases.v2!);
      const b = await status();
      expect(b.drift).toHaveLength(1);
      expect(b.drift[0]).toMatchObject({
        region: 'us',
        what: 'registry',
        expected: releases.v2,
        actual: moved,
      });
    } finally {
      const v2 = await client.getManifest('shop/service', releases.v2!);
      await client.putManifest('shop/service', PROD, v2.bytes, v2.descriptor.mediaType);
    }
  }, 60_000);

  it('status --watch redraws until the run is aborted (Ctrl-C), then returns', async () => {
    const stop = new AbortController();
    const clear = '\x1b[H\x1b[2J';
    const args = ['--store', store, 'status', '--env', PROD, '-C', project, '--watch', '0.1'];
    const flags = insecure().flatMap((h) => ['--insecure-registry', h]);
    const r = await runCli([...args, ...flags], {
      signal: stop.signal,
      onStdout: (text) => {
        if (text.split('no drift').length - 1 >= 3) stop.abort();
      },
    });
    expect(r.status, r.stderr).toBe(0);
    const frames = r.stdout.split(clear).slice(1);
    expect(frames).toHaveLength(3);
    for (const f of frames)
      expect(f).toMatch(new RegExp(`^${PROD}[^]*\\n {2}eu: verified sha256:[^]*no drift\\n`));
    const bad = await runCli([...args.slice(0, -1), 'soon', ...flags]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--watch takes a number of seconds');
  }, 60_000);

  it('after a kill -9 in the middle of a step, status tells the truth and rollback recovers', async () => {
    // Signed, and never promoted anywhere (the tests before refused it).
    const artifact = releases.v4!;
    const child = spawn(
      process.execPath,
      [
        CLI,
        '--store',
        store,
        'deploy',
        artifact,
        '--env',
        PROD,
        '-C',
        project,
        '--json',
        ...insecure().flatMap((h) => ['--insecure-registry', h]),
      ],
      { stdio: 'ignore' },
    );
    const stateFile = join(store, 'airlock', 'v1', 'deploy', `${PROD}.json`);
    let killed = false;
    for (let i = 0; i < 600 && !killed; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (!existsSync(stateFile)) continue;
      const st = JSON.parse(readFileSync(stateFile, 'utf8')) as {
        rollout: { artifact: string; phase: string; moved: string[] };
      };
      if (
        st.rollout.artifact === artifact &&
        st.rollout.phase === 'stepping' &&
        st.rollout.moved.includes('eu')
      ) {
        child.kill('SIGKILL');
        killed = true;
      }
    }
    expect(killed).toBe(true);
    await new Promise((r) => child.once('exit', r));

    const status = await runStatus({
      project,
      store,
      environment: PROD,
      insecure: insecure(),
      events: () => {},
    });
    expect(status.rollout).toMatchObject({ artifact, phase: 'stepping', region: 'eu', step: 0 });
    const eu = status.regions.find((r) => r.region === 'eu')!;
    expect(eu.router.find((x) => x.slot === 'a')?.weight).toBe(5);
    expect(eu.containers.some((c) => c.digest === artifact && c.running)).toBe(true);

    const back = await runRollback({
      project,
      store,
      environment: PROD,
      insecure: insecure(),
      events: () => {},
      reason: 'deploy killed mid-step',
      audit: { user: 'oncall' },
    });
    expect(back.outcome).toBe('rolled-back');
    expect(await weights(routers.eu!)).toMatchObject({ a: 0, b: 100 });
    // The audit log names the rollback as by hand, by whom, and why.
    const st = await Store.open(store);
    const log = openAuditLog(st);
    try {
      const rb = log
        .list({ types: ['deploy.rollback'] })
        .map(
          (r) => r.entry.data as { from: string; automatic: boolean; by?: string; reason: string },
        )
        .filter((d) => d.from === artifact);
      expect(rb.length).toBeGreaterThan(0);
      for (const d of rb)
        expect(d).toMatchObject({
          automatic: false,
          by: 'oncall',
          reason: 'deploy killed mid-step',
        });
    } finally {
      log.close();
      st.close();
    }
    const after = await runStatus({
      project,
      store,
      environment: PROD,
      insecure: insecure(),
      events: () => {},
    });
    expect(after.drift).toEqual([]);
    expect(after.regions[0]!.containers.some((c) => c.digest === artifact)).toBe(false);
  }, 180_000);
});
