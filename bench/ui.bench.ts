// Benchmark: first load of the dashboard in a real browser (Debian's chromium through
// playwright-core) against a store holding 1,000 tagged artifacts (every tenth with an
// attachment) plus the demo project's lib and server builds.
//   - "first data" is the page's `airlock:first-data` mark: the first animation frame
//     after the API's answer is rendered (the first meaningful paint), from navigation start;
//   - "FCP" is the browser's first-contentful-paint (the empty shell);
//   - "API" is the same page's API request timed from Node, the server's share.
// Each round opens a fresh browser context (no HTTP cache, no session).
// Goal: first meaningful paint < 500 ms. Run with: npx tsx bench/ui.bench.ts
// Knobs (env): AIRLOCK_BENCH_RUNS (default 7). The store is kept in .bench/ui-store.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Store } from '../src/store/index.js';
import { startDashboard } from '../src/ui/index.js';
import { storeArtifact, storeAttachment } from '../test/helpers/registry-artifacts.js';
import { CHROMIUM, launchChromium } from '../test/helpers/browser.js';
import { REPO, copyDemo } from '../test/helpers/cli.js';
import { fmtMs, machineNote, median, printTable, runOk } from './lib/measure.js';

const RUNS = Number.parseInt(process.env.AIRLOCK_BENCH_RUNS ?? '', 10) || 7;
const ARTIFACTS = 1000;
const GOAL_MS = 500;
const DIR = join(REPO, '.bench', 'ui-store');
const store = join(DIR, 'store');
const project = join(DIR, 'demo');

/** Fills the store once (about a minute): 1,000 artifacts and the demo's build. */
async function prepare(): Promise<void> {
  if (existsSync(join(DIR, 'ready'))) return;
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  copyDemo(project);
  await runOk(process.execPath, [
    join(REPO, 'bin', 'airlock.js'),
    '--store',
    store,
    'build',
    '-C',
    project,
    'lib',
    'server',
  ]);
  const s = await Store.open(store);
  try {
    for (let i = 0; i < ARTIFACTS; i++) {
      const desc = await storeArtifact(s, `bench/app-${String(i).padStart(4, '0')}:1.0`, 512);
      if (i % 10 === 0)
        await storeAttachment(s, desc, 'application/vnd.example.sbom', `{"n":${i}}`);
    }
  } finally {
    s.close();
  }
  await runOk('touch', [join(DIR, 'ready')]);
}

if (!existsSync(CHROMIUM)) {
  console.log(`skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
  process.exit(0);
}
console.log(`preparing ${DIR} (once) …`);
await prepare();
const dashboard = await startDashboard({ project, store });
const browser = await launchChromium(CHROMIUM);

interface Round {
  firstData: number;
  fcp: number;
  api: number;
}

/** One cold load of `path`: a new context, the session cookie, then the page. */
async function load(path: string, api: string): Promise<Round> {
  const t0 = performance.now();
  const r = await fetch(`${dashboard.origin}${api}`, {
    headers: { authorization: `Bearer ${dashboard.token}` },
  });
  await r.arrayBuffer();
  const apiMs = performance.now() - t0;
  const context = await browser.newContext();
  try {
    await context.addCookies([
      { name: 'airlock_ui', value: dashboard.token, url: dashboard.origin },
    ]);
    const page = await context.newPage();
    await page.goto(`${dashboard.origin}${path}`);
    await page.waitForFunction(
      () => performance.getEntriesByName('airlock:first-data').length > 0,
      null,
      { timeout: 30_000 },
    );
    const [firstData, fcp] = await page.evaluate(() => [
      performance.getEntriesByName('airlock:first-data')[0]!.startTime,
      performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN,
    ]);
    return { firstData, fcp, api: apiMs };
  } finally {
    await context.close();
  }
}

const range = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `${fmtMs(s[0]!)} / ${fmtMs(median(s))} / ${fmtMs(s[s.length - 1]!)}`;
};

const rows: string[][] = [];
const verdicts: string[] = [];
try {
  for (const [name, path, api] of [
    ['targets (/, the first page)', '/', '/api/targets'],
    [`artifacts (${ARTIFACTS} rows)`, '/artifacts', '/api/artifacts'],
  ] as const) {
    await load(path, api); // warm the server's code paths; the browser context is new each round
    const rounds: Round[] = [];
    for (let i = 0; i < RUNS; i++) rounds.push(await load(path, api));
    const first = rounds.map((r) => r.firstData);
    rows.push([
      name,
      range(first),
      range(rounds.map((r) => r.fcp)),
      range(rounds.map((r) => r.api)),
    ]);
    const max = Math.max(...first);
    const min = Math.min(...first);
    verdicts.push(
      `${name}: ${max < GOAL_MS ? 'goal met' : min > GOAL_MS ? 'goal MISSED' : 'no verdict (the range straddles the goal)'} (first meaningful paint < ${GOAL_MS} ms)`,
    );
  }
} finally {
  await browser.close();
  await dashboard.close();
}
console.log(`${RUNS} rounds each, min / median / max; ${machineNote()}`);
printTable(['page', 'first data (FMP)', 'FCP', 'API alone (Node)'], rows);
for (const v of verdicts) console.log(v);
