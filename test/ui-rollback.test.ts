// The dashboard's rollback button, for real: `airlock ui --allow-actions` (the
// compiled CLI, its own process) in Debian's chromium, against a region whose
// router is a real HAProxy and whose registry is a real docker-registry. The
// region's state is what a promotion leaves (the new version stable in slot a,
// the previous one idle in slot b); the click must move HAProxy's weights back,
// move the registry's environment tag back, record the rollback in the audit
// log with the dashboard as the actor and the typed reason, and sign a checkpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../src/core/digest.js';
import { STATE_FORMAT, haproxyRouter, writeState } from '../src/deploy/index.js';
import { recordAudit } from '../src/pipeline/audit.js';
import { runKeygen } from '../src/pipeline/keygen.js';
import { runPush } from '../src/pipeline/registry-push.js';
import { RegistryClient } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { HEADLESS_SHELL, launchChromium } from './helpers/browser.js';
import { CLI, REPO, runCli, tempDir } from './helpers/cli.js';
import { startHaproxy, type TestHaproxy } from './helpers/deploy-env.js';
import { storeArtifact } from './helpers/registry-artifacts.js';
import {
  freePort,
  listen,
  startRegistry,
  type TestRegistry,
  type TestServer,
} from './helpers/registry.js';

const SHOTS = join(REPO, 'test-output', 'ui-rollback');
const PASSWORD = 'rollback test password';

/** GET through HAProxy's frontend: which release answered. */
function release(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${port}/`, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-release'] ?? '')));
      })
      .on('error', reject);
  });
}

describe('the dashboard rolls a region back for real', () => {
  const tmp = tempDir('ui-rollback');
  const project = join(tmp.path, 'project');
  const store = join(tmp.path, 'store');
  let haproxy: TestHaproxy;
  let registry: TestRegistry;
  let services: TestServer[] = [];
  let ui: ChildProcess | undefined;
  let browser: Browser | undefined;
  let stable: Digest;
  let previous: Digest;

  beforeAll(async () => {
    if (!existsSync(HEADLESS_SHELL))
      throw new Error(
        `${HEADLESS_SHELL} is missing: install chromium-headless-shell (scripts/setup.sh)`,
      );
    mkdirSync(SHOTS, { recursive: true });
    mkdirSync(join(project, 'keys'), { recursive: true });
    [haproxy, registry, services] = await Promise.all([
      startHaproxy(tmp.path, 'web'),
      startRegistry(),
      Promise.all(
        ['new', 'old'].map((name) =>
          listen((_req, res) => {
            res.writeHead(200, { 'x-release': name });
            res.end(name);
          }),
        ),
      ),
      runKeygen({ dir: join(project, 'keys'), password: PASSWORD }),
    ]);
    writeFileSync(join(project, 'policy.yaml'), 'version: 1\n');
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: shop',
        'targets:',
        '  web: { sources: ["src/**"], steps: ["true"], outputs: ["dist/**"] }',
        'environments:',
        '  production:',
        '    policy: policy.yaml',
        '    regions:',
        '      eu-west:',
        `        registry: ${registry.host}/shop/web`,
        '        runtime: podman',
        `        router: { haproxy: ${haproxy.socket}, backend: web }`,
        `        metrics: { prometheus: "http://127.0.0.1:${await freePort()}" }`,
        'audit:',
        '  signingKey: keys/cosign.key',
        '',
      ].join('\n'),
    );
    // Two releases in the store and in the region's registry; the environment tag on the new one.
    const s = await Store.open(store);
    try {
      previous = (await storeArtifact(s, 'shop/web-old', 1000)).digest;
      stable = (await storeArtifact(s, 'shop/web-new', 1000)).digest;
    } finally {
      s.close();
    }
    for (const [source, tag] of [
      ['shop/web-old', 'old'],
      ['shop/web-new', 'production'],
    ] as const)
      await runPush({
        source,
        target: `${registry.host}/shop/web:${tag}`,
        store,
        insecure: [registry.host],
        events: () => {},
      });
    // The router as a promotion leaves it: slot a (new) takes every request, slot b (old) idles.
    const router = haproxyRouter(haproxy.socket, 'web');
    await router.point('a', services[0]!.port);
    await router.point('b', services[1]!.port);
    await router.weights({ a: 100, b: 0 });
    const s2 = await Store.open(store);
    try {
      await writeState(s2.paths.deploy, {
        format: STATE_FORMAT,
        environment: 'production',
        regions: {
          'eu-west': {
            stable: 'a',
            slots: {
              a: { digest: stable, container: 'airlock-ui-rollback-new', port: services[0]!.port },
              b: {
                digest: previous,
                container: 'airlock-ui-rollback-old',
                port: services[1]!.port,
              },
            },
            verified: stable,
          },
        },
        rollout: null,
      });
      // The deploy's own audit entries for that promotion: what the environments page lists.
      const place = { environment: 'production', region: 'eu-west' };
      recordAudit(s2, {
        type: 'deploy.step',
        data: {
          ...place,
          artifact: stable,
          previous,
          step: 100,
          weights: { [stable]: 100, [previous]: 0 },
          gates: [{ name: 'error-rate', value: 0, threshold: 0.01, op: '<=', pass: true }],
          decision: 'promote',
        },
      });
      recordAudit(s2, { type: 'deploy.promotion', data: { ...place, artifact: stable, previous } });
    } finally {
      s2.close();
    }
    expect(await release(haproxy.port)).toBe('new');
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (ui && ui.exitCode === null) {
      const exited = once(ui, 'exit');
      ui.kill('SIGINT');
      await exited;
    }
    await Promise.all([haproxy?.stop(), registry?.stop(), ...services.map((x) => x.stop())]);
    tmp.cleanup();
  });

  it('moves the router weights and the environment tag back, and records who and why in the audit log', async () => {
    ui = spawn(
      process.execPath,
      [CLI, '--json', '--store', store, 'ui', '-C', project, '--allow-actions'],
      {
        env: {
          ...process.env,
          NO_COLOR: '1',
          CI: '1',
          AIRLOCK_PASSWORD: PASSWORD,
          AIRLOCK_INSECURE_REGISTRIES: registry.host,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    ui.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [line] = (await once(createInterface({ input: ui.stdout! }), 'line')) as [string];
    const started = JSON.parse(line) as { url: string; origin: string; readOnly: boolean };
    expect(started.readOnly).toBe(false);

    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(started.url);
    await page.goto(`${started.origin}/environments`);
    const region = page.getByTestId('env-production').getByTestId('region-eu-west');
    await region.waitFor();
    expect(await region.getByTestId('running').textContent()).toBe(stable);
    await page.getByTestId('rollback').click();
    await page.getByTestId('rollback-reason').fill('error rate above 1% after the promotion');
    await page.getByTestId('rollback-confirm').click();
    await page.getByTestId('rollback-result').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('rollback-result').textContent(), stderr).toBe(
      'production: rolled-back',
    );
    // The page follows the log: the rollback is listed with who and why.
    await expect
      .poll(() => region.getByTestId('running').textContent(), { timeout: 15_000 })
      .toBe(previous);
    await page.screenshot({ path: join(SHOTS, 'environments-rolled-back.png'), fullPage: true });
    await context.close();

    // HAProxy: every request goes to the previous release now.
    const servers = await haproxyRouter(haproxy.socket, 'web').servers();
    expect(Object.fromEntries(servers.map((x) => [x.name, x.weight]))).toEqual({ a: 0, b: 100 });
    expect(await release(haproxy.port)).toBe('old');
    // The region's registry serves the previous release under the environment tag.
    const client = new RegistryClient(registry.host, { insecure: [registry.host] });
    expect((await client.getManifest('shop/web', 'production')).descriptor.digest).toBe(previous);

    // The audit log: a rollback by hand, by the dashboard for this user, with the typed reason.
    const log = JSON.parse(
      (await runCli(['--json', '--store', store, 'audit', 'log', '--type', 'deploy.rollback']))
        .stdout,
    ) as {
      entries: { seq: number; entry: { actor: { via?: string; user: string }; data: unknown } }[];
    };
    expect(log.entries).toHaveLength(1);
    const entry = log.entries[0]!.entry;
    expect(entry.actor.via).toBe('dashboard');
    expect(entry.data).toEqual({
      environment: 'production',
      region: 'eu-west',
      from: stable,
      to: previous,
      automatic: false,
      by: `dashboard:${entry.actor.user}`,
      reason: 'error rate above 1% after the promotion',
    });
    // The rollback moved traffic: the head is signed with the project's key at once.
    const verify = JSON.parse(
      (
        await runCli([
          '--json',
          '--store',
          store,
          'audit',
          'verify',
          '--key',
          join(project, 'keys', 'cosign.pub'),
        ])
      ).stdout,
    ) as {
      ok: boolean;
      head: { seq: number };
      checkpoints: { seq: number; signature: string }[];
      tail: { unprotected: number };
    };
    expect(verify.ok).toBe(true);
    expect(verify.head.seq).toBeGreaterThanOrEqual(log.entries[0]!.seq);
    expect(verify.checkpoints.map((c) => [c.seq, c.signature])).toEqual([
      [verify.head.seq, 'verified'],
    ]);
    expect(verify.tail.unprotected).toBe(0);
  });
});
