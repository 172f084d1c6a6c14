// The dashboard in a real browser: Debian's chromium (its headless shell) driven by playwright-core,
// against a store where the demo was built and signed by the compiled CLI.
// Every figure a page shows is compared with what the CLI's --json prints.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../src/ui/index.js';
import { recordAudit } from '../src/pipeline/audit.js';
import { Store } from '../src/store/index.js';
import { HEADLESS_SHELL, launchChromium } from './helpers/browser.js';
import { CLI, REPO, copyDemo, runCli, tempDir } from './helpers/cli.js';

/** Screenshots of each page land here (the test's output directory, ignored by git). */
const SHOTS = join(REPO, 'test-output', 'ui-browser');
const PASSWORD = 'dashboard test password';
const env = { AIRLOCK_PASSWORD: PASSWORD };

interface BuildJson {
  targets: { name: string; cached: boolean; artifact: string }[];
}
interface WhyJson {
  verdict: string;
  changes: { component: string; detail: string }[];
}
interface VerifyJson {
  pass: boolean;
  digest: string;
  rules: { rule: string; pass: boolean; reason: string }[];
}

/** The page's globals this test reads (the test is compiled without the DOM library). */
interface Browserish {
  document: { body: { dataset: Record<string, string | undefined> } };
}

/** The status of a GET of `url` sent with its own Host header (fetch always sends the URL's). */
function statusWithHost(url: string, cookie: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host, cookie } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Records a canary of `artifact` to production/eu-west in the audit log, as the
 * deploy stage records it: a 10% step with two gates, then a promotion.
 */
async function recordDeploy(storeRoot: string, artifact: string): Promise<void> {
  const s = await Store.open(storeRoot);
  try {
    const place = { environment: 'production', region: 'eu-west' };
    const previous = `sha256:${'b'.repeat(64)}` as const;
    for (const [step, errors, decision] of [
      [10, 0.004, 'continue'],
      [50, 0.03, 'pause'],
      [50, 0.006, 'promote'],
    ] as const)
      recordAudit(s, {
        type: 'deploy.step',
        data: {
          ...place,
          artifact: artifact,
          previous,
          step,
          weights: { [artifact]: step, [previous]: 100 - step },
          gates: [
            { name: 'error-rate', value: errors, threshold: 0.01, op: '<=', pass: errors <= 0.01 },
            { name: 'p99-latency', value: 120 + step, threshold: 300, op: '<=', pass: true },
          ],
          decision,
        },
      });
    recordAudit(s, {
      type: 'deploy.promotion',
      data: { ...place, artifact: artifact, previous },
    });
  } finally {
    s.close();
  }
}

/** The CLI's --json for `args`, run in this worker (the same command tree as the binary). */
async function json<T>(args: string[]): Promise<T> {
  const r = await runCli(['--json', ...args], { env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

describe('airlock ui in a real browser', () => {
  const tmp = tempDir('ui');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'demo');
  const policy = join(tmp.path, 'keys', 'policy.yaml');
  let browser: Browser;
  let dashboard: Dashboard;
  let artifact: string;

  beforeAll(async () => {
    if (!existsSync(HEADLESS_SHELL))
      throw new Error(
        `${HEADLESS_SHELL} is missing: install chromium-headless-shell (scripts/setup.sh)`,
      );
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    copyDemo(project);
    const built = await json<BuildJson>([
      '--store',
      store,
      'build',
      '-C',
      project,
      'lib',
      'server',
    ]);
    artifact = built.targets.find((t) => t.name === 'server')!.artifact;
    mkdirSync(join(tmp.path, 'keys'));
    expect((await runCli(['keygen', '--dir', join(tmp.path, 'keys')], { env })).status).toBe(0);
    writeFileSync(
      policy,
      'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance, cyclonedx]\nminLevel: 3\n',
    );
    const key = join(tmp.path, 'keys', 'cosign.key');
    const s = await runCli(['--store', store, 'sign', '-C', project, 'server', '--key', key], {
      env,
    });
    expect(s.status, s.stderr).toBe(0);
    await recordDeploy(store, artifact);
    dashboard = await startDashboard({ project, store, policy, pollMs: 100 });
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    tmp.cleanup();
  });

  /** A fresh browser context holding the session of `d` (the token turned into its cookie). */
  async function open(d: Dashboard, path: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(d.url);
    await page.goto(`${d.origin}${path}`);
    return page;
  }

  it('shows each target with its last build and the verdict `airlock why --json` gives', async () => {
    const page = await open(dashboard, '/');
    await page.getByTestId('targets-table').waitFor();
    for (const name of ['lib', 'server', 'hello-c', 'clock']) {
      const why = await json<WhyJson>(['--store', store, 'why', '-C', project, name]);
      const row = page.getByTestId(`target-${name}`);
      expect(await row.getByTestId('verdict').textContent()).toBe(why.verdict);
    }
    const server = page.getByTestId('target-server');
    expect(await server.getByTestId('artifact').textContent()).toBe(artifact);
    expect(await server.getByTestId('duration').textContent()).toMatch(/^\d+ ms$/);
    expect(await page.getByTestId('target-clock').getByTestId('artifact').textContent()).toBe('—');
    await page.locator('[data-testid=duration-chart][data-ready=true]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'targets.png'), fullPage: true });
    await page.context().close();
  });

  it('lists the tagged artifacts of the store, as index.json has them', async () => {
    const page = await open(dashboard, '/artifacts');
    await page.getByTestId('artifacts-table').waitFor();
    const s = await Store.open(store);
    const tags = (await s.listTags()).filter((t) => !t.name.startsWith('sha256-'));
    s.close();
    expect(await page.getByTestId('artifact-count').textContent()).toMatch(
      new RegExp(`^${tags.length} artifacts`),
    );
    const shown = await page
      .locator('[data-testid=artifacts-table] tbody tr td:first-child')
      .allTextContents();
    expect(shown.sort()).toEqual(tags.map((t) => t.name).sort());
    await page.screenshot({ path: join(SHOTS, 'artifacts.png'), fullPage: true });
    await page.context().close();
  });

  it('shows an artifact’s verification, SBOM components and level as verify, sbom and the provenance say', async () => {
    const verify = await json<VerifyJson>([
      '--store',
      store,
      'verify',
      'demo/server',
      '--policy',
      policy,
    ]);
    const sbom = JSON.parse(
      (await json<{ sbom: string }>(['--store', store, 'sbom', '-C', project, 'server'])).sbom,
    ) as { components: { name: string; version?: string }[] };
    const page = await open(dashboard, `/artifacts/${artifact}`);
    await page.getByTestId('rules').waitFor();
    expect(await page.getByTestId('verdict').textContent()).toBe(verify.pass ? 'PASS' : 'FAIL');
    const rows = await page.locator('[data-testid=rules] tbody tr').all();
    const shownRules = await Promise.all(
      rows.map(async (r) => (await r.locator('td').allTextContents()).join('|')),
    );
    expect(shownRules).toEqual(
      verify.rules.map((r) => `${r.rule}|${r.pass ? 'pass' : 'fail'}|${r.reason}`),
    );
    const names = await page
      .locator('[data-testid=components] tbody tr td:first-child')
      .allTextContents();
    expect(names).toEqual(sbom.components.map((c) => c.name));
    expect(names.length).toBeGreaterThan(0);
    const minLevel = verify.rules.find((r) => r.rule === 'minLevel')!;
    const level = await page.getByTestId('level').textContent();
    expect(minLevel.reason).toContain(`level ${level}`);
    const keyIds = await page
      .locator('[data-testid=attachments] tbody tr td:nth-child(3)')
      .allTextContents();
    expect(new Set(keyIds).size).toBe(1);
    expect(keyIds[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
    await page.locator('[data-testid=evidence-graph][data-nodes]').waitFor();
    expect(Number(await page.getByTestId('evidence-graph').getAttribute('data-nodes'))).toBe(
      1 + (await page.locator('[data-testid=builds] tbody tr').count()) + keyIds.length + 1,
    );
    await page.screenshot({ path: join(SHOTS, 'artifact.png'), fullPage: true });
    await page.context().close();
  });

  it('updates the targets page live while a build runs, without reloading it', async () => {
    appendFileSync(join(project, 'lib', 'greeting.txt'), '\nlive update\n');
    const before = await json<WhyJson>(['--store', store, 'why', '-C', project, 'lib']);
    expect(before.verdict).toBe('changed');
    const page = await open(dashboard, '/');
    const libVerdict = page.getByTestId('target-lib').getByTestId('verdict');
    await expect.poll(() => libVerdict.textContent()).toBe('changed');
    // The miss is explained as `why` explains it, change by change.
    expect(
      await page.getByTestId('target-lib').locator('[data-testid=changes] li').allTextContents(),
    ).toEqual(before.changes.map((c) => `${c.component} ${c.detail}`));
    expect(before.changes.length).toBeGreaterThan(0);
    await page.evaluate(() => ((globalThis as { marker?: string }).marker = 'same page'));
    const revision = Number(await page.locator('body').getAttribute('data-revision'));
    const build = spawn(
      process.execPath,
      [CLI, '--json', '--store', store, 'build', '-C', project, 'lib', 'server'],
      { env: { ...process.env, NO_COLOR: '1', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    build.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => build.on('exit', resolve));
    // A change event reaches the page while the build process is still running.
    await page.waitForFunction(
      (r) => Number((globalThis as unknown as Browserish).document.body.dataset.revision) > r,
      revision,
      { timeout: 30_000 },
    );
    expect(build.exitCode).toBeNull();
    expect(await exited).toBe(0);
    const after = (JSON.parse(out) as BuildJson).targets.find((t) => t.name === 'lib')!;
    expect(after.cached).toBe(false);
    const libArtifact = page.getByTestId('target-lib').getByTestId('artifact');
    await expect.poll(() => libArtifact.textContent(), { timeout: 15_000 }).toBe(after.artifact);
    await expect.poll(() => libVerdict.textContent()).toBe('hit');
    // The audit log's build event says whether the steps ran.
    const lastRun = page.getByTestId('target-lib').getByTestId('last-run').locator('span').first();
    expect(await lastRun.textContent()).toBe(after.cached ? 'hit' : 'miss');
    expect(await page.evaluate(() => (globalThis as { marker?: string }).marker)).toBe('same page');
    await page.screenshot({ path: join(SHOTS, 'targets-after-build.png'), fullPage: true });
    await page.context().close();
  });

  it('shows the audit log and its chain status as `audit verify --json` and `audit log --json` do', async () => {
    const verify = await json<{ ok: boolean; entries: number; head: { seq: number } }>([
      '--store',
      store,
      'audit',
      'verify',
    ]);
    const log = await json<{ entries: { seq: number; entry: { type: string } }[] }>([
      '--store',
      store,
      'audit',
      'log',
    ]);
    expect(verify.ok).toBe(true);
    const page = await open(dashboard, '/audit');
    await page.getByTestId('audit-table').waitFor();
    expect(await page.getByTestId('chain-status').textContent()).toBe('verified');
    expect(Number(await page.getByTestId('entry-count').textContent())).toBe(verify.entries);
    const types = await page
      .locator('[data-testid=audit-table] tbody tr td:nth-child(3)')
      .allTextContents();
    expect(types).toEqual(log.entries.map((e) => e.entry.type).reverse());
    expect(types).toContain('build');
    expect(types).toContain('deploy.promotion');
    // Each checkpoint as `audit verify --json` reports it: entry covered, key id, signature, consistency.
    const checks = await json<{
      checkpoints: { seq: number; keyHint?: string; signature: string; consistent: boolean }[];
      head: { seq: number };
      tail: { checkpointed: number; unprotected: number };
    }>(['--store', store, 'audit', 'verify']);
    expect(checks.checkpoints.length).toBeGreaterThan(0);
    const cpRows = await page.locator('[data-testid=checkpoints] tbody tr').all();
    const shownCheckpoints = await Promise.all(
      cpRows.map(async (r) => {
        const td = await r.locator('td').allTextContents();
        return [td[0], td[2], td[3], td[4]].map((x) => x!.trim()).join('|');
      }),
    );
    expect(shownCheckpoints).toEqual(
      checks.checkpoints.map(
        (c) => `${c.seq}|${c.keyHint ?? ''}|${c.signature}|${c.consistent ? 'yes' : 'NO'}`,
      ),
    );
    expect(checks.checkpoints[0]!.keyHint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(checks.tail.unprotected).toBeGreaterThan(0);
    expect(await page.getByTestId('tail').textContent()).toContain(
      `No checkpoint since entry ${checks.tail.checkpointed}: entries ${checks.tail.checkpointed + 1}–${checks.head.seq} are unprotected`,
    );
    // The filters give what `audit log --type --since --target` gives.
    const filtered = async (type: string, since: string, target: string): Promise<string[]> => {
      await page.getByTestId('filter-type').selectOption(type);
      await page.getByTestId('filter-since').fill(since);
      await page.getByTestId('filter-target').fill(target);
      await page.getByTestId('filter-apply').click();
      const q = new URLSearchParams(
        Object.entries({ type, since, target }).filter(([, v]) => v !== ''),
      ).toString();
      await page.locator(`[data-testid=audit-table][data-path="/api/audit?${q}"]`).waitFor();
      return page.locator('[data-testid=audit-table] tbody tr td:first-child').allTextContents();
    };
    const cliSeqs = async (args: string[]): Promise<string[]> =>
      (
        await json<{ entries: { seq: number }[] }>(['--store', store, 'audit', 'log', ...args])
      ).entries
        .map((e) => String(e.seq))
        .reverse();
    const builds = await filtered('build', '1d', 'server');
    expect(builds).toEqual(
      await cliSeqs(['--type', 'build', '--since', '1d', '--target', 'server']),
    );
    expect(builds.length).toBeGreaterThan(0);
    const signatures = await filtered('signature', '', 'server');
    expect(signatures).toEqual(await cliSeqs(['--type', 'signature', '--target', 'server']));
    expect(signatures.length).toBeGreaterThan(0);
    expect(await filtered('', '2099-01-01', '')).toEqual([]);
    expect(await cliSeqs(['--since', '2099-01-01'])).toEqual([]);
    await page.screenshot({ path: join(SHOTS, 'audit-filtered.png'), fullPage: true });
    await page.getByTestId('filter-since').fill('soon');
    await page.getByTestId('filter-apply').click();
    await expect
      .poll(() => page.getByTestId('error').textContent())
      .toContain('--since "soon" is neither a date nor a duration');
    await page.screenshot({ path: join(SHOTS, 'audit.png'), fullPage: true });
    await page.context().close();
  });

  it('draws the lineage of an artifact with the nodes `airlock lineage --json` lists', async () => {
    const graph = await json<{ nodes: { id: string; label: string }[] }>([
      '--store',
      store,
      'lineage',
      artifact,
    ]);
    const page = await open(dashboard, `/artifacts/${artifact}`);
    await page.getByTestId('lineage-link').click();
    await page.locator('[data-testid=lineage-graph][data-nodes]').waitFor();
    expect(Number(await page.getByTestId('lineage-graph').getAttribute('data-nodes'))).toBe(
      graph.nodes.length,
    );
    const labels = await page
      .locator('[data-testid=lineage-nodes] tbody tr td:nth-child(2)')
      .allTextContents();
    expect(labels).toEqual(graph.nodes.map((n) => n.label));
    expect(labels).toContain('production/eu-west');
    await page.screenshot({ path: join(SHOTS, 'lineage.png'), fullPage: true });
    await page.context().close();
  });

  it('shows what runs in each region and every rollout gate over time, from the deploy events', async () => {
    const page = await open(dashboard, '/environments');
    const region = page.getByTestId('env-production').getByTestId('region-eu-west');
    await region.waitFor();
    expect(await region.getByTestId('running').textContent()).toBe(artifact);
    expect(await region.getByTestId('drift').textContent()).toContain('none');
    const rows = await page.locator('[data-testid=gate-table-error-rate] tbody tr').all();
    const shown = await Promise.all(
      rows.map(async (r) => (await r.locator('td').allTextContents()).slice(2).join('|')),
    );
    expect(shown).toEqual([
      '10%|0.004|0.01|pass|continue',
      '50%|0.03|0.01|fail|pause',
      '50%|0.006|0.01|pass|promote',
    ]);
    await page.locator('[data-testid=gate-error-rate][data-ready=true]').waitFor();
    await page.locator('[data-testid=gate-p99-latency][data-ready=true]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'environments.png'), fullPage: true });
    await page.context().close();
  });

  it('refuses API requests without the token, from another origin, or with another Host', async () => {
    const cookie = `airlock_ui=${dashboard.token}`;
    const api = `${dashboard.origin}/api/targets`;
    expect((await fetch(api)).status).toBe(401);
    expect((await fetch(api, { headers: { cookie: 'airlock_ui=wrong' } })).status).toBe(401);
    expect((await fetch(api, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(api, { headers: { cookie } })).status).toBe(200);
    expect(
      (await fetch(api, { headers: { authorization: `Bearer ${dashboard.token}` } })).status,
    ).toBe(200);
    const evil = { cookie, origin: 'http://evil.example' };
    expect((await fetch(api, { headers: evil })).status).toBe(403);
    expect((await fetch(api, { headers: { cookie, 'sec-fetch-site': 'cross-site' } })).status).toBe(
      403,
    );
    // DNS rebinding: the right address reached under another name.
    expect(await statusWithHost(api, cookie, 'attacker.example')).toBe(403);
    expect(await statusWithHost(api, cookie, new URL(api).host)).toBe(200);
    // A POST needs the dashboard's own Origin, even with the token.
    const post = (headers: Record<string, string>) =>
      fetch(`${dashboard.origin}/api/actions/rollback`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ environment: 'production' }),
      });
    expect((await post({})).status).toBe(403);
    expect((await post({ origin: 'http://evil.example' })).status).toBe(403);
    // The page without the token says how to get in, and gets no data.
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${dashboard.origin}/`);
    expect(await page.getByTestId('error').textContent()).toContain('access token');
    await page.screenshot({ path: join(SHOTS, 'no-token.png') });
    // Another origin's page cannot read the API with the victim's cookie.
    const other = await open(dashboard, '/');
    await other.goto(`http://localhost:${new URL(dashboard.origin).port}/`);
    expect(await other.getByTestId('error').textContent()).not.toBe('');
    await context.close();
    await other.context().close();
  });

  it('shows no rollback button without --allow-actions, and rolls back as the dashboard with it', async () => {
    const readOnly = await open(dashboard, '/environments');
    await readOnly.getByTestId('env-production').waitFor();
    expect(await readOnly.getByTestId('rollback').count()).toBe(0);
    const status = await readOnly.evaluate(async () => {
      const r = await fetch('/api/actions/rollback', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ environment: 'production' }),
      });
      return r.status;
    });
    expect(status).toBe(403);
    await readOnly.screenshot({ path: join(SHOTS, 'environments-read-only.png'), fullPage: true });
    await readOnly.context().close();

    const calls: { environment: string; actor: string; reason: string }[] = [];
    const acting = await startDashboard({
      project,
      store,
      allowActions: true,
      actions: {
        rollback: (req) => {
          calls.push(req);
          return Promise.resolve({ message: `rolled back ${req.environment}` });
        },
      },
    });
    try {
      const page = await open(acting, '/environments');
      await page.getByTestId('rollback').click();
      await page.getByTestId('rollback-cancel').click();
      expect(calls).toEqual([]);
      await page.getByTestId('rollback').click();
      await page.getByTestId('rollback-reason').fill('error rate');
      await page.screenshot({ path: join(SHOTS, 'environments-rollback.png'), fullPage: true });
      await page.getByTestId('rollback-confirm').click();
      await page.getByTestId('rollback-result').waitFor();
      expect(calls).toEqual([
        { environment: 'production', actor: 'dashboard', reason: 'error rate' },
      ]);
      await page.context().close();
    } finally {
      await acting.close();
    }
  });
});
