// The deploy demo's core (`npm run demo` runs it through scripts/deploy-demo-main.ts;
// test/deploy-demo.test.ts runs it in-process): `airlock ship` for the bundled
// example's server on a local environment of two regions, then a deliberately
// broken second release that the gates catch and roll back.
//
// Everything is real and on 127.0.0.1: two docker-registry instances (one per
// region), two HAProxy instances (one frontend per region, weights through the
// runtime API), one Prometheus scraping both routers and the services, and
// podman with runc running the images. The demo starts them itself and
// `stop()` removes everything it made: its containers, the images podman pulled
// from its registries, the servers and its temp dir.
//
// The server image is layered on a base image of busybox-static plus this
// host's node binary, built and pushed by the demo; its digest depends on the
// host's node, so the demo pins it (`image.base: <registry>/base/node@sha256:…`)
// in its own working copy of examples/demo, as `airlock pin` would.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { describeDeployEvent } from '../src/cli/commands/deploy.js';
import { parseDurationMs } from '../src/config/index.js';
import type { DeployEvent } from '../src/deploy/index.js';
import { LABELS } from '../src/deploy/index.js';
import { runStatus, type StatusReport } from '../src/pipeline/deploy.js';
import { runKeygen } from '../src/pipeline/keygen.js';
import { runShip, type ShipReport } from '../src/pipeline/ship.js';
import { RegistryClient } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import {
  loadGenerator,
  startHaproxy,
  startPrometheus,
  type Hit,
  type TestHaproxy,
  type TestPrometheus,
} from '../test/helpers/deploy-env.js';
import { removeImages, requirePodman } from '../test/helpers/podman.js';
import { startRegistry, tempDir, type TestRegistry } from '../test/helpers/registry.js';
import { requireBusybox } from '../test/helpers/rootfs.js';
import { pushBaseImage } from '../test/helpers/service.js';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'demo');
const REGIONS = ['eu', 'us'] as const;
type Region = (typeof REGIONS)[number];

export interface DemoOptions {
  /** Progress, one line at a time. */
  log: (line: string) => void;
  /** The environment's name in airlock.yaml and on the containers' labels (default `demo`). */
  environment?: string;
  /** How long each rollout step is held before its gates are read (default `2500ms`). */
  hold?: string;
  /** How often Prometheus scrapes the routers and the services, in ms (default 1000). */
  scrapeMs?: number;
}

/** What the demo did: both ship reports, the status after the rollback, and what the users saw. */
export interface DemoResult {
  first: ShipReport;
  second: ShipReport;
  status: StatusReport;
  /** Answers the load generator got per region while the broken release was deployed. */
  users: Record<Region, { requests: number; byRelease: Record<string, number>; errors: number }>;
}

/** The release switch in the server's sources: a broken release is another artifact. */
function writeRelease(project: string, version: string, fail: boolean): void {
  writeFileSync(
    join(project, 'server', 'src', 'release.js'),
    `export const release = ${JSON.stringify({ version, fail })};\n`,
  );
}

export class DeployDemo {
  private dir: string | undefined;
  private readonly registries: Partial<Record<Region, TestRegistry>> = {};
  private readonly routers: Partial<Record<Region, TestHaproxy>> = {};
  private prometheus: TestPrometheus | undefined;
  private stopped: Promise<void> | undefined;
  /** The ships in flight: `stop()` lets them settle before it removes what they write to. */
  private running: Promise<unknown> = Promise.resolve();
  private readonly started = Date.now();
  readonly environment: string;

  constructor(private readonly opts: DemoOptions) {
    this.environment = opts.environment ?? 'demo';
  }

  private say(line: string): void {
    const s = ((Date.now() - this.started) / 1000).toFixed(1).padStart(5);
    this.opts.log(`[${s}s] ${line}`);
  }

  /** The demo's temp dir (servers' files, store, working copy), once started. */
  get workDir(): string | undefined {
    return this.dir;
  }

  private get hosts(): string[] {
    return Object.values(this.registries).map((r) => r.host);
  }

  /** Starts the two regions' registries and routers and the Prometheus, in parallel. */
  async start(): Promise<void> {
    requirePodman();
    requireBusybox();
    this.dir = await tempDir('deploy-demo');
    const dir = this.dir;
    this.say(`starting two regions on 127.0.0.1 (files in ${dir})`);
    await Promise.all(
      REGIONS.map(async (r) => {
        this.registries[r] = await startRegistry();
        this.routers[r] = await startHaproxy(dir, `web_${r}`);
      }),
    );
    this.prometheus = await startPrometheus(
      dir,
      REGIONS.map((r) => `127.0.0.1:${this.routers[r]!.metricsPort}`),
      REGIONS.map((r) => join(dir, `web_${r}.json`)),
      this.opts.scrapeMs,
    );
    for (const r of REGIONS)
      this.say(
        `  region ${r}: registry ${this.registries[r]!.host}, HAProxy on :${this.routers[r]!.port} (admin socket ${this.routers[r]!.socket})`,
      );
    this.say(`  Prometheus ${this.prometheus.url} scrapes both routers and the services`);
  }

  /** Ships release 1 (promoted in both regions), then a broken release 2 (rolled back). */
  run(): Promise<DemoResult> {
    const run = this.ships();
    this.running = run.catch(() => {});
    return run;
  }

  private async ships(): Promise<DemoResult> {
    const dir = this.dir!;
    const eu = this.registries.eu!;
    this.say('building the base image (busybox-static + this host’s node) and pushing it');
    const publisher = await Store.open(join(dir, 'publisher'));
    let base: string;
    try {
      const client = new RegistryClient(eu.host, { insecure: [eu.host] });
      base = `${eu.host}/base/node@${await pushBaseImage(publisher, client)}`;
    } finally {
      publisher.close();
    }
    this.say(`  image.base: ${base}`);

    const project = join(dir, 'demo');
    cpSync(EXAMPLE, project, {
      recursive: true,
      filter: (src) => src !== join(EXAMPLE, 'dist') && !src.startsWith(join(EXAMPLE, 'dist', sep)),
    });
    this.writeConfig(project, base);
    await runKeygen({ dir: project, password: '' });
    writeFileSync(
      join(project, 'policy.yaml'),
      'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance]\n',
    );
    const store = join(dir, 'store');
    // Users of both regions, from the first deploy stage on (building needs none).
    let load: Record<Region, ReturnType<typeof loadGenerator>> | undefined;
    const startUsers = (): Record<Region, ReturnType<typeof loadGenerator>> =>
      (load ??= Object.fromEntries(
        REGIONS.map((r) => [r, loadGenerator(`http://127.0.0.1:${this.routers[r]!.port}/`, 2, 20)]),
      ) as Record<Region, ReturnType<typeof loadGenerator>>);
    const ship = async (what: string): Promise<ShipReport> => {
      this.say(`== airlock ship server --env ${this.environment}: ${what}`);
      const report = await runShip({
        project,
        store,
        environment: this.environment,
        target: 'server',
        key: join(project, 'cosign.key'),
        password: '',
        insecure: this.hosts,
        events: (e) => {
          if (e.type !== 'log' || !e.message.startsWith('ship: ')) return;
          this.say(e.message);
          if (e.message === 'ship: deploy') startUsers();
        },
        onEvent: (e: DeployEvent) => this.say(`  ${describeDeployEvent(e)}`),
      });
      for (const s of report.stages)
        this.say(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.stage}: ${s.detail}`);
      return report;
    };
    try {
      writeRelease(project, '1', false);
      const first = await ship('release 1');
      if (first.failed !== undefined)
        throw new Error(`release 1 stopped at ${first.failed}: see the stages above`);

      writeRelease(project, '2', true);
      const traffic = startUsers();
      const mark = Object.fromEntries(REGIONS.map((r) => [r, traffic[r].hits.length]));
      const second = await ship('release 2, deliberately broken (every answer a 500)');
      await new Promise((r) => setTimeout(r, 300));
      const users = Object.fromEntries(
        REGIONS.map((r) => [r, summarize(traffic[r].hits.slice(mark[r]))]),
      ) as DemoResult['users'];
      for (const r of REGIONS)
        this.say(
          `  users in ${r} during release 2: ${users[r].requests} requests, by release ${JSON.stringify(users[r].byRelease)}, ${users[r].errors} failed outright`,
        );

      this.say(`== airlock status --env ${this.environment}`);
      const status = await runStatus({
        project,
        store,
        environment: this.environment,
        insecure: this.hosts,
        events: () => {},
      });
      for (const g of status.regions)
        this.say(
          `  ${g.region}: verified ${g.verified ?? '-'}; registry serves ${g.registry ?? '-'}; router ${g.router.map((x) => `${x.slot}=${x.weight}`).join(' ')}`,
        );
      this.say(
        status.drift.length === 0
          ? '  no drift: every region runs the verified release 1'
          : `  DRIFT: ${status.drift.map((d) => `${d.region} ${d.what}`).join(', ')}`,
      );
      return { first, second, status, users };
    } finally {
      if (load !== undefined) await Promise.all(REGIONS.map((r) => load![r].stop()));
    }
  }

  private writeConfig(project: string, base: string): void {
    const hold = this.opts.hold ?? '2500ms';
    const extendLimit = Math.max(3, Math.ceil(12_000 / (parseDurationMs(hold) ?? 2500)));
    const file = join(project, 'airlock.yaml');
    const yaml = readFileSync(file, 'utf8');
    const anchor = "      entrypoint: ['node', '/dist/server/server.js']\n";
    if (!yaml.includes(anchor)) throw new Error(`${file}: the server's image: block changed`);
    const region = (r: Region): string[] => [
      `      ${r}:`,
      `        registry: ${this.registries[r]!.host}/demo/server`,
      '        runtime: podman',
      `        router: { haproxy: ${this.routers[r]!.socket}, backend: ${this.routers[r]!.backend} }`,
      `        metrics: { prometheus: "${this.prometheus!.url}", targets: ${join(this.dir!, `web_${r}.json`)} }`,
    ];
    writeFileSync(
      file,
      [
        yaml.replace(anchor, `      base: '${base}'\n${anchor}`).trimEnd(),
        'environments:',
        `  ${this.environment}:`,
        '    policy: policy.yaml',
        '    regions:',
        ...REGIONS.flatMap(region),
        `    rollout: { steps: [5, 25, 50, 100], hold: ${hold}, readiness: { path: /healthz, timeout: 20s } }`,
        '    gates:',
        '      - { name: error-rate, max: 0.05, minRequests: 3 }',
        // A new version's own metrics come once Prometheus's discovery has passed its
        // address on (up to about 10 s): the step extends until then.
        `      - { name: latency-p99, max: 0.5, minRequests: 3, onNoData: extend, extendLimit: ${extendLimit} }`,
        '',
      ].join('\n'),
    );
  }

  /** Removes everything the demo made; safe to call twice and after a partial start. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      // Interrupted mid-ship: Ctrl-C reached the servers and the sandbox too, so
      // what is in flight fails (or rolls back) quickly; wait for it, not forever.
      await Promise.race([this.running, new Promise((r) => setTimeout(r, 30_000).unref())]);
      const hosts = this.hosts;
      try {
        const lines = execFileSync(
          'podman',
          [
            'ps',
            '-a',
            '--filter',
            `label=${LABELS.environment}=${this.environment}`,
            '--format',
            '{{.ID}} {{.Image}}',
          ],
          { encoding: 'utf8' },
        ).split('\n');
        const mine = lines
          .map((l) => l.split(' '))
          .filter(([id, image]) => id && image && hosts.some((h) => image.startsWith(`${h}/`)))
          .map(([id]) => id!);
        if (mine.length > 0)
          execFileSync('podman', ['rm', '-f', '-t', '0', ...mine], { stdio: 'ignore' });
        if (hosts.length > 0) removeImages(hosts);
      } catch (err) {
        this.say(
          `cleaning up containers failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      await this.prometheus?.stop();
      for (const r of REGIONS) {
        await this.routers[r]?.stop();
        await this.registries[r]?.stop();
      }
      if (this.dir !== undefined && this.dir.includes(`${sep}airlock-deploy-demo-`))
        await rm(this.dir, { recursive: true, force: true, maxRetries: 5 });
    })();
    return this.stopped;
  }
}

function summarize(hits: Hit[]): DemoResult['users'][Region] {
  const byRelease: Record<string, number> = {};
  for (const h of hits) {
    const key = h.error !== undefined ? 'error' : `${h.release || 'none'} ${h.status}`;
    byRelease[key] = (byRelease[key] ?? 0) + 1;
  }
  return { requests: hits.length, byRelease, errors: hits.filter((h) => h.error).length };
}

/** Checks the demo's two outcomes; returns what is wrong (empty: both as expected). */
export function demoProblems(r: DemoResult): string[] {
  const out: string[] = [];
  const first = r.first.deploy;
  if (r.first.failed !== undefined) out.push(`release 1 stopped at ${r.first.failed}`);
  if (first?.outcome !== 'promoted' || first.rollout.promoted.join() !== REGIONS.join())
    out.push(`release 1 was not promoted in ${REGIONS.join(' and ')}`);
  const second = r.second.deploy;
  if (r.second.failed !== 'deploy') out.push(`release 2 did not stop at deploy`);
  if (second?.outcome !== 'rolled-back') out.push('release 2 was not rolled back');
  const failing = second?.rollout.samples.find((x) => x.verdict !== 'pass');
  if (failing?.gate !== 'error-rate' || failing.verdict !== 'fail' || failing.weight !== 5)
    out.push(`release 2 was not caught by the error-rate gate at the first step`);
  if (r.status.drift.length > 0) out.push('status found drift after the rollback');
  if (r.status.regions.some((g) => g.verified !== r.first.artifact))
    out.push('a region does not have release 1 as its verified digest');
  return out;
}
