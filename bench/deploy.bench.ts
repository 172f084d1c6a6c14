// Benchmark: rollback time and the router's cost, with real podman, HAProxy,
// Prometheus and docker-registry on 127.0.0.1 (one region).
//   1. Bad releases (every answer a 500), one after another, each deployed
//      while a load generator runs: every one must be aborted at the first
//      step; per release, the time from the rollback decision to the last
//      answer from the bad version (= 100% of requests on the previous one),
//      and the whole rollout's time.
//   2. p99 latency of sequential requests straight to the service and
//      through HAProxy.
// Run with: npx tsx bench/deploy.bench.ts
// Knobs (env): AIRLOCK_BENCH_RUNS (bad releases, default 100), AIRLOCK_BENCH_REQUESTS (default 2000).
// Each release is cheap: the servers, the store and the built artifact are
// reused; only the deploy itself (verify, push check, container, step, gates,
// rollback) runs per release.
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import http from 'node:http';
import type { Digest } from '../src/core/index.js';
import type { DeployEvent } from '../src/deploy/index.js';
import { runBuild } from '../src/pipeline/build.js';
import { runDeploy } from '../src/pipeline/deploy.js';
import { runKeygen } from '../src/pipeline/keygen.js';
import { runSign } from '../src/pipeline/sign.js';
import { RegistryClient } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { loadGenerator, startHaproxy, startPrometheus } from '../test/helpers/deploy-env.js';
import { removeImages, requirePodman } from '../test/helpers/podman.js';
import { startRegistry, tempDir } from '../test/helpers/registry.js';
import { pushBaseImage, serviceProject, type Release } from '../test/helpers/service.js';
import { fmtMs, machineNote, median, printTable } from './lib/measure.js';
import { execFileSync } from 'node:child_process';

const envInt = (name: string, dflt: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = envInt('AIRLOCK_BENCH_RUNS', 100);
const REQUESTS = envInt('AIRLOCK_BENCH_REQUESTS', 2000);

requirePodman();
console.log(machineNote());
const dir = await tempDir('deploy-bench');
const registry = await startRegistry();
const router = await startHaproxy(dir, 'web');
const sd = join(dir, 'web.json');
const prometheus = await startPrometheus(dir, [`127.0.0.1:${router.metricsPort}`], [sd]);
const store = join(dir, 'store');
try {
  const publisher = await Store.open(join(dir, 'publisher'));
  const base = `${registry.host}/base/node@${await pushBaseImage(
    publisher,
    new RegistryClient(registry.host, { insecure: [registry.host] }),
  )}`;
  publisher.close();
  const project = serviceProject(join(dir, 'project'), base, { version: 'good' });
  await runKeygen({ dir: project, password: '' });
  writeFileSync(
    join(project, 'policy.yaml'),
    'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance]\n',
  );
  writeFileSync(
    join(project, 'airlock.yaml'),
    `${(await import('node:fs')).readFileSync(join(project, 'airlock.yaml'), 'utf8')}environments:
  bench:
    policy: policy.yaml
    regions:
      eu:
        registry: ${registry.host}/shop/service
        router: { haproxy: ${router.socket}, backend: web }
        metrics: { prometheus: "${prometheus.url}", targets: ${sd} }
    rollout: { steps: [5, 100], hold: 2s }
    gates:
      - { name: error-rate, max: 0.05, minRequests: 3 }
`,
  );
  const release = async (r: Release): Promise<Digest> => {
    writeFileSync(join(project, 'src', 'release.json'), `${JSON.stringify(r)}\n`);
    const built = await runBuild({
      project,
      store,
      targets: ['service'],
      insecure: [registry.host],
      events: () => {},
    });
    await runSign({
      project,
      store,
      targets: ['service'],
      key: join(project, 'cosign.key'),
      password: '',
      events: () => {},
    });
    return built.targets[0]!.artifact as Digest;
  };
  const good = await release({ version: 'good' });
  const bad = await release({ version: 'bad', fail: true });
  const deploy = (artifact: Digest, onEvent?: (e: DeployEvent) => void) =>
    runDeploy({
      project,
      store,
      environment: 'bench',
      artifact,
      insecure: [registry.host],
      events: () => {},
      ...(onEvent ? { onEvent } : {}),
    });
  const warm = loadGenerator(`http://127.0.0.1:${router.port}/`, 2, 5);
  const first = await deploy(good);
  await warm.stop();
  if (first.outcome !== 'promoted')
    throw new Error(`the good release was not promoted: ${first.rollout.reason}`);

  const rollbackMs: number[] = [];
  const rolloutMs: number[] = [];
  const decisionMs: number[] = [];
  let abortedFirstStep = 0;
  const otherReasons: string[] = [];
  const stoppedBy = new Map<string, number>();
  for (let i = 0; i < RUNS; i++) {
    const load = loadGenerator(`http://127.0.0.1:${router.port}/`, 2, 5);
    let decision = 0;
    let switchMs = 0;
    let steps = 0;
    const t0 = performance.now();
    const t0wall = Date.now();
    const report = await deploy(bad, (e) => {
      if (e.kind === 'deploy.rollback') {
        decision = Date.now() - e.ms;
        switchMs = e.ms;
      }
      if (e.kind === 'deploy.step') steps++;
    });
    rolloutMs.push(performance.now() - t0);
    decisionMs.push(decision - t0wall);
    await new Promise((r) => setTimeout(r, 300));
    await load.stop();
    // Aborted at the first step: rolled back after one step, nothing promoted. Which
    // verdict stopped it is counted too (the error-rate gate failing, or the
    // minimum-traffic guard finding too few canary requests: no data, fail closed).
    const failing = report.rollout.samples.find((x) => x.verdict !== 'pass');
    if (report.outcome === 'rolled-back' && steps === 1 && report.rollout.promoted.length === 0) {
      abortedFirstStep++;
      const why = `${failing?.gate ?? '?'} ${failing?.verdict ?? '?'}`;
      stoppedBy.set(why, (stoppedBy.get(why) ?? 0) + 1);
    } else
      otherReasons.push(
        `release ${i + 1}: ${report.outcome} after ${steps} step(s): ${report.rollout.reason ?? ''}`,
      );
    if ((i + 1) % 10 === 0)
      console.log(
        `  ${i + 1}/${RUNS} bad releases deployed, ${abortedFirstStep} aborted at the first step`,
      );
    const lastBad = Math.max(
      decision,
      ...load.hits.filter((h) => h.release === 'bad').map((h) => h.at),
    );
    // The router's switch itself, or the last answer from the bad version, whichever is later.
    rollbackMs.push(Math.max(switchMs, lastBad - decision));
  }

  console.log(
    `\n${RUNS} bad releases (every answer a 500), each deployed under load; steps [5, 100], hold 2 s`,
  );
  printTable(
    ['measure', 'min', 'median', 'max', 'goal', 'verdict'],
    [
      [
        'decision → 100% on the previous version',
        fmtMs(Math.min(...rollbackMs)),
        fmtMs(median(rollbackMs)),
        fmtMs(Math.max(...rollbackMs)),
        '< 1 s',
        Math.max(...rollbackMs) < 1000
          ? 'goal met'
          : Math.min(...rollbackMs) >= 1000
            ? 'goal MISSED'
            : 'no verdict',
      ],
      [
        'deploy start → rollback decision',
        fmtMs(Math.min(...decisionMs)),
        fmtMs(median(decisionMs)),
        fmtMs(Math.max(...decisionMs)),
        '',
        '',
      ],
      [
        'whole rollout of a bad release',
        fmtMs(Math.min(...rolloutMs)),
        fmtMs(median(rolloutMs)),
        fmtMs(Math.max(...rolloutMs)),
        '',
        '',
      ],
    ],
  );
  console.log(
    `aborted at the first step: ${abortedFirstStep} of ${RUNS} (goal: all) ${abortedFirstStep === RUNS ? 'goal met' : 'goal MISSED'}`,
  );
  for (const [why, n] of [...stoppedBy].sort((a, b) => b[1] - a[1]))
    console.log(`  stopped by ${why}: ${n}`);
  for (const r of otherReasons) console.log(`  not aborted at the first step: ${r}`);

  // Router overhead: the same sequential requests to the stable container and through HAProxy.
  const state = JSON.parse(
    (await import('node:fs')).readFileSync(
      join(store, 'airlock', 'v1', 'deploy', 'bench.json'),
      'utf8',
    ),
  ) as {
    regions: { eu: { stable: string; slots: Record<string, { port: number }> } };
  };
  const direct = state.regions.eu.slots[state.regions.eu.stable]!.port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  // Interleaved (direct, router, direct, …) so both see the same machine load.
  const one = (port: number): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      http
        .get(`http://127.0.0.1:${port}/`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(performance.now() - t));
        })
        .on('error', reject);
    });
  const times = { direct: [] as number[], router: [] as number[] };
  for (let i = 0; i < REQUESTS; i++) {
    times.direct.push(await one(direct));
    times.router.push(await one(router.port));
  }
  const p99 = (xs: number[]): number =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
  const pDirect = p99(times.direct);
  const pRouter = p99(times.router);
  agent.destroy();

  console.log(
    `p99 of ${REQUESTS} sequential requests: direct ${pDirect.toFixed(2)} ms, through HAProxy ${pRouter.toFixed(2)} ms (+${(pRouter - pDirect).toFixed(2)} ms)`,
  );
} finally {
  execFileSync('podman', ['ps', '-aq', '--filter', 'label=dev.airlock.environment=bench'], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean)
    .forEach((id) => execFileSync('podman', ['rm', '-f', '-t', '0', id], { stdio: 'ignore' }));
  removeImages([registry.host]);
  await prometheus.stop();
  await router.stop();
  await registry.stop();
  mkdirSync(dir, { recursive: true });
  await rm(dir, { recursive: true, force: true });
}
