// Benchmark: `airlock build` against Turborepo on the same 50 × 200-file monorepo
// (two identical copies, one per tool, so neither disturbs the other's files).
// Scenarios: cold (empty caches), no-op (all cached, outputs present), restore
// (outputs deleted, restored from cache), one source file changed.
// Run with: npx tsx bench/build.bench.ts
// Knobs (env): AIRLOCK_BENCH_PACKAGES, AIRLOCK_BENCH_FILES, AIRLOCK_BENCH_RUNS (warm
// repetitions, default 5), AIRLOCK_BENCH_COLD_RUNS (default 2), AIRLOCK_BENCH_PROFILE=<dir>
// (one extra, untimed `node --cpu-prof` Airlock run per scenario, summarised).
// The cold build is also set against its physical floor: the same build scripts
// run bare, `xargs -P<cores>`, in a third copy, in the same run.
// Then the warm scenarios again with `airlock build` served by the build daemon
// (`airlock daemon`, started for the bench and stopped after it), against the same
// turbo (no daemon), in the same run; AIRLOCK_BENCH_DAEMON=0 leaves them out. The
// rows without "(daemon)" run Airlock in-process (AIRLOCK_DAEMON=0).
// `--cold` runs only the cold case and its floor, each round's floor right after
// that round's cold builds (AIRLOCK_BENCH_COLD_RUNS rounds).
// `--scale` (`npm run bench -- build --scale`) then repeats cold, no-op and one
// file touched at 10k, 50k and 100k input files (200-file packages; sizes from
// AIRLOCK_BENCH_SCALE_SIZES, e.g. "10000,50000"), with Airlock's peak RSS;
// `--scale-only` runs those alone. Rounds at each size: AIRLOCK_BENCH_SCALE_RUNS
// (warm, default 3) and AIRLOCK_BENCH_SCALE_COLD_RUNS (default 1).
// AIRLOCK_BENCH_CASES=no-op,restore,... runs only those warm scenarios (names as in
// the table; the cold build always runs, it fills the caches the others use).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fmtMs,
  fmtRatios,
  fmtSpread,
  machineNote,
  median,
  printTable,
  roundRatios,
  run,
  verdict,
  type RunResult,
} from './lib/measure.js';
import { hotSpots } from './lib/profile.js';
import {
  FULL_SHAPE,
  generateWorkspace,
  pkgName,
  sourcePath,
  type WorkspaceShape,
} from './lib/workspace.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const AIRLOCK_BIN = join(REPO, 'bin', 'airlock.js');
const MAX_RSS = join(REPO, 'bench', 'lib', 'max-rss.cjs');
const TURBO_BIN = join(REPO, 'node_modules', '.bin', 'turbo');

const envInt = (name: string, dflt: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const SHAPE = {
  packages: envInt('AIRLOCK_BENCH_PACKAGES', FULL_SHAPE.packages),
  filesPerPackage: envInt('AIRLOCK_BENCH_FILES', FULL_SHAPE.filesPerPackage),
};
const RUNS = envInt('AIRLOCK_BENCH_RUNS', 5);
const COLD_RUNS = envInt('AIRLOCK_BENCH_COLD_RUNS', 2);
const PROFILE_DIR = process.env.AIRLOCK_BENCH_PROFILE;
const CASES = process.env.AIRLOCK_BENCH_CASES?.split(',').map((c) => c.trim());
/** A case as AIRLOCK_BENCH_CASES may name it: `one-file` for "one file touched". */
const caseName = (c: string): string => (c === 'one-file' ? 'one file touched' : c);
/**
 * True when scenario `name` is to be measured (all are, unless
 * AIRLOCK_BENCH_CASES lists some): a case named without "(daemon)" selects
 * its daemon row too.
 */
const wanted = (name: string): boolean =>
  name === 'cold' ||
  !CASES ||
  CASES.some((c) => caseName(c) === name || `${caseName(c)} (daemon)` === name);

type Scenario =
  | 'cold'
  | 'no-op'
  | 'restore'
  | 'one file touched'
  | 'no-op (daemon)'
  | 'restore (daemon)'
  | 'one file touched (daemon)';

/** Turbo's figures measured once on this machine class (2 cores), and each goal as a max ratio. */
const SCENARIOS: { name: Scenario; turboReferenceMs: number; goal: number }[] = [
  { name: 'cold', turboReferenceMs: 11_900, goal: 1.2 },
  { name: 'no-op', turboReferenceMs: 410, goal: 0.5 },
  { name: 'restore', turboReferenceMs: 710, goal: 0.8 },
  { name: 'one file touched', turboReferenceMs: 810, goal: 0.5 },
  { name: 'no-op (daemon)', turboReferenceMs: 410, goal: 0.5 },
  { name: 'restore (daemon)', turboReferenceMs: 710, goal: 0.8 },
  { name: 'one file touched (daemon)', turboReferenceMs: 810, goal: 0.5 },
];

interface Outcome {
  ms: number;
  cached: number;
  total: number;
  /** Peak resident set size of the process (Airlock only), KiB. */
  rssKiB?: number;
}

/** Every prerequisite missing, as human-readable reasons; empty when the bench can run. */
function missingPrerequisites(): string[] {
  const why: string[] = [];
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js')))
    why.push('dist/cli/main.js is missing (run `npm run build`)');
  if (!existsSync(TURBO_BIN)) why.push('node_modules/.bin/turbo is missing (run `npm ci`)');
  for (const tool of ['bwrap', 'git']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      why.push(`${tool} is not installed`);
    }
  }
  return why;
}

class Bench {
  readonly airlockWs: string;
  readonly turboWs: string;
  readonly floorWs: string;
  readonly store: string;
  readonly turboCache: string;
  private edits = 0;

  constructor(
    readonly dir: string,
    readonly shape: WorkspaceShape = SHAPE,
  ) {
    this.airlockWs = join(dir, 'ws-airlock');
    this.turboWs = join(dir, 'ws-turbo');
    this.floorWs = join(dir, 'ws-floor');
    this.store = join(dir, 'airlock-store');
    this.turboCache = join(dir, 'turbo-cache');
  }

  /** The environment of Airlock's runs: in-process, or through the build daemon. */
  airlockEnv(daemon: boolean): NodeJS.ProcessEnv {
    return {
      ...process.env,
      AIRLOCK_HOME: join(this.dir, 'airlock-home'),
      NO_COLOR: '1',
      AIRLOCK_DAEMON: daemon ? '1' : '0',
      XDG_RUNTIME_DIR: join(this.dir, 'run'),
    };
  }

  /** Starts `airlock daemon start` for the Airlock copy; resolves once it listens. */
  async startDaemon(): Promise<ChildProcess> {
    mkdirSync(join(this.dir, 'run'), { recursive: true, mode: 0o700 });
    const child = spawn(
      process.execPath,
      [AIRLOCK_BIN, '--store', this.store, '--json', 'daemon', 'start', '-C', this.airlockWs],
      { cwd: this.airlockWs, env: this.airlockEnv(true), stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`airlock daemon start exited with ${code}`)));
    });
    return child;
  }

  /** The build daemon's status (runs served, what its watcher knows). */
  async daemonStatus(): Promise<{ runs: number; watcher: { knownFiles: number; resets: number } }> {
    const r = await run(
      process.execPath,
      [AIRLOCK_BIN, '--store', this.store, 'daemon', 'status', '-C', this.airlockWs, '--json'],
      { cwd: this.airlockWs, env: this.airlockEnv(true) },
    );
    check('airlock daemon status', r);
    return JSON.parse(r.stdout) as {
      runs: number;
      watcher: { knownFiles: number; resets: number };
    };
  }

  /** One `airlock build` of every target; the count of cached targets comes from its JSON report. */
  async airlock(profileDir?: string, daemon = false): Promise<Outcome> {
    const args = [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      '--require',
      MAX_RSS,
      AIRLOCK_BIN,
      '--store',
      this.store,
      '--json',
      'build',
      '-C',
      this.airlockWs,
    ];
    const r = await run(process.execPath, args, {
      cwd: this.airlockWs,
      env: this.airlockEnv(daemon),
    });
    check('airlock', r);
    const report = JSON.parse(r.stdout) as { targets: { cached: boolean }[] };
    return {
      ms: r.ms,
      cached: report.targets.filter((t) => t.cached).length,
      total: report.targets.length,
      rssKiB: Number(/max-rss-kib:(\d+)/.exec(r.stderr)?.[1] ?? Number.NaN),
    };
  }

  /**
   * The physical floor of a cold build: every package's build script run
   * bare, `xargs -P<cores>`, nothing else (no sandbox, hashing, packing, store).
   */
  async floor(): Promise<Outcome> {
    this.removeOutputs(this.floorWs);
    const list = Array.from({ length: this.shape.packages }, (_, i) => `${pkgName(i)}/build.js`);
    const r = await run(
      'xargs',
      ['-P', String(availableParallelism()), '-n', '1', process.execPath],
      { cwd: this.floorWs, input: `${list.join('\n')}\n` },
    );
    check('xargs (floor)', r);
    return { ms: r.ms, cached: 0, total: this.shape.packages };
  }

  /** One `turbo run build` of every package; cached/total parsed from its summary. */
  async turbo(): Promise<Outcome> {
    const r = await run(
      TURBO_BIN,
      ['run', 'build', `--cache-dir=${this.turboCache}`, '--no-daemon', '--ui=stream'],
      {
        cwd: this.turboWs,
        env: {
          ...process.env,
          TURBO_TELEMETRY_DISABLED: '1',
          DO_NOT_TRACK: '1',
          TURBO_NO_UPDATE_NOTIFIER: '1',
          NO_COLOR: '1',
        },
      },
    );
    check('turbo', r);
    const m = /Cached:\s+(\d+) cached, (\d+) total/.exec(r.stdout + r.stderr);
    return { ms: r.ms, cached: m ? Number(m[1]) : -1, total: m ? Number(m[2]) : -1 };
  }

  removeOutputs(ws: string): void {
    for (let i = 0; i < this.shape.packages; i++) {
      rmSync(join(ws, pkgName(i), 'dist'), { recursive: true, force: true });
    }
  }

  /** Changes the bytes of one source file in both copies in the same way. */
  touchOneSource(): void {
    this.edits++;
    const rel = sourcePath(
      Math.min(17, this.shape.packages - 1),
      Math.min(42, this.shape.filesPerPackage - 1),
    );
    for (const ws of [this.airlockWs, this.turboWs]) {
      const abs = join(ws, rel);
      const base = readFileSync(abs, 'utf8').replace(/\n\/\/ bench edit \d+\n$/, '\n');
      writeFileSync(abs, `${base}// bench edit ${this.edits}\n`);
    }
  }

  /** True when both copies hold byte-identical dist/ outputs. */
  sameOutputs(): boolean {
    for (let i = 0; i < this.shape.packages; i++) {
      const a = join(this.airlockWs, pkgName(i), 'dist');
      const b = join(this.turboWs, pkgName(i), 'dist');
      const names = readdirSync(a).sort();
      if (names.join('\0') !== readdirSync(b).sort().join('\0')) return false;
      for (const n of names) {
        if (!readFileSync(join(a, n)).equals(readFileSync(join(b, n)))) return false;
      }
    }
    return true;
  }
}

function check(tool: string, r: RunResult): void {
  if (r.code !== 0) {
    throw new Error(
      `${tool} exited with ${r.code}\n--- stdout ---\n${r.stdout.slice(-3000)}\n--- stderr ---\n${r.stderr.slice(-3000)}`,
    );
  }
}

/** Runs `prepare` then each tool, `runs` times, alternating which tool goes first. */
async function measure(
  b: Bench,
  runs: number,
  prepare: (tool: 'airlock' | 'turbo') => void,
  daemon = false,
): Promise<{ airlock: Outcome[]; turbo: Outcome[] }> {
  const out = { airlock: [] as Outcome[], turbo: [] as Outcome[] };
  for (let r = 0; r < runs; r++) {
    const order: ('airlock' | 'turbo')[] =
      r % 2 === 0 ? ['airlock', 'turbo'] : ['turbo', 'airlock'];
    for (const tool of order) {
      prepare(tool);
      out[tool].push(tool === 'airlock' ? await b.airlock(undefined, daemon) : await b.turbo());
    }
  }
  return out;
}

async function main(): Promise<void> {
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    console.log(`build bench skipped: ${missing.join('; ')}`);
    return;
  }
  if (process.argv.includes('--scale-only')) {
    await scale();
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'airlock-build-bench-'));
  try {
    const b = new Bench(dir);
    const t0 = performance.now();
    const files = await generateWorkspace(b.airlockWs, SHAPE);
    await generateWorkspace(b.turboWs, SHAPE);
    await generateWorkspace(b.floorWs, SHAPE);
    console.log(
      `workspace: ${SHAPE.packages} targets x ${SHAPE.filesPerPackage} files = ${files.length} sources (two copies in ${dir}, generated in ${fmtMs(performance.now() - t0)})`,
    );
    console.log(
      `turbo ${execFileSync(TURBO_BIN, ['--version'], { encoding: 'utf8' }).trim()} (default concurrency 10), airlock -j default (${(
        await import('node:os')
      ).availableParallelism()} cores); warm scenarios: ${RUNS} rounds, cold: ${COLD_RUNS} rounds; min / median / max, a verdict only when every round is on one side of the goal`,
    );

    if (process.argv.includes('--cold')) {
      await coldOnly(b);
      return;
    }
    const results = new Map<Scenario, { airlock: Outcome[]; turbo: Outcome[] }>();
    results.set(
      'cold',
      await measure(b, COLD_RUNS, (tool) => {
        if (tool === 'airlock') {
          rmSync(b.store, { recursive: true, force: true });
          b.removeOutputs(b.airlockWs);
        } else {
          rmSync(b.turboCache, { recursive: true, force: true });
          b.removeOutputs(b.turboWs);
        }
      }),
    );
    const floor: Outcome[] = [];
    for (let r = 0; r < COLD_RUNS; r++) floor.push(await b.floor());
    const identical = b.sameOutputs();
    if (wanted('no-op')) results.set('no-op', await measure(b, RUNS, () => {}));
    if (wanted('restore'))
      results.set(
        'restore',
        await measure(b, RUNS, (tool) =>
          b.removeOutputs(tool === 'airlock' ? b.airlockWs : b.turboWs),
        ),
      );
    let pending = 0;
    if (wanted('one file touched'))
      results.set(
        'one file touched',
        await measure(b, RUNS, () => {
          // One edit per repetition, seen by both tools.
          if (pending++ % 2 === 0) b.touchOneSource();
        }),
      );

    // The same warm scenarios with Airlock served by its build daemon.
    let daemonNote = '';
    if (
      process.env.AIRLOCK_BENCH_DAEMON !== '0' &&
      ['no-op (daemon)', 'restore (daemon)', 'one file touched (daemon)'].some(wanted)
    ) {
      const daemon = await b.startDaemon();
      try {
        await b.airlock(undefined, true); // the first build through it teaches its watcher
        const before = await b.daemonStatus();
        if (wanted('no-op (daemon)'))
          results.set('no-op (daemon)', await measure(b, RUNS, () => {}, true));
        if (wanted('restore (daemon)'))
          results.set(
            'restore (daemon)',
            await measure(
              b,
              RUNS,
              (tool) => b.removeOutputs(tool === 'airlock' ? b.airlockWs : b.turboWs),
              true,
            ),
          );
        let touched = 0;
        if (wanted('one file touched (daemon)'))
          results.set(
            'one file touched (daemon)',
            await measure(
              b,
              RUNS,
              () => {
                if (touched++ % 2 === 0) b.touchOneSource();
              },
              true,
            ),
          );
        const after = await b.daemonStatus();
        daemonNote = `build daemon: served ${after.runs - before.runs} of ${[...results.keys()].filter((k) => k.endsWith('(daemon)')).length * RUNS} measured builds; its watcher knew ${after.watcher.knownFiles} files at the end, ${after.watcher.resets} knowledge reset(s) in all`;
      } finally {
        daemon.kill('SIGTERM');
      }
    }

    const expectCached: Record<Scenario, (total: number) => number> = {
      cold: () => 0,
      'no-op': (n) => n,
      restore: (n) => n,
      'one file touched': (n) => n - 1,
      'no-op (daemon)': (n) => n,
      'restore (daemon)': (n) => n,
      'one file touched (daemon)': (n) => n - 1,
    };
    const rows: string[][] = [];
    const warnings: string[] = [];
    for (const s of SCENARIOS) {
      const r = results.get(s.name);
      if (!r) continue;
      const a = r.airlock.map((o) => o.ms);
      const t = r.turbo.map((o) => o.ms);
      const ratios = roundRatios(a, t);
      rows.push([
        s.name,
        fmtSpread(a),
        fmtSpread(t),
        fmtRatios(ratios),
        verdict(ratios, s.goal, 'max'),
        fmtMs(s.turboReferenceMs),
      ]);
      for (const [tool, outs] of [
        ['airlock', r.airlock],
        ['turbo', r.turbo],
      ] as const) {
        for (const o of outs) {
          if (o.cached !== expectCached[s.name](o.total)) {
            warnings.push(
              `${s.name}: ${tool} reported ${o.cached}/${o.total} cached, expected ${expectCached[s.name](o.total)}`,
            );
          }
        }
      }
    }
    console.log('');
    console.log(machineNote());
    printTable(
      [
        'scenario',
        'airlock min / median / max',
        'turbo min / median / max',
        'airlock/turbo per round',
        'verdict',
        'turbo ref.',
      ],
      rows,
    );
    console.log('');
    console.log(
      `outputs of both tools byte-identical after the cold build: ${identical ? 'yes' : 'NO'}`,
    );
    if (daemonNote) console.log(daemonNote);
    for (const w of warnings) console.log(`WARNING ${w}`);
    printFloor(results.get('cold')!.airlock, floor);

    if (PROFILE_DIR) await profile(b, resolve(PROFILE_DIR));
    if (process.argv.includes('--scale')) await scale();
  } finally {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

/** The cold case and its floor only, the floor run right after each round's cold builds. */
async function coldOnly(b: Bench): Promise<void> {
  const cold = { airlock: [] as Outcome[], turbo: [] as Outcome[] };
  const floor: Outcome[] = [];
  for (let r = 0; r < COLD_RUNS; r++) {
    const one = await measure(b, 1, (tool) => {
      if (tool === 'airlock') {
        rmSync(b.store, { recursive: true, force: true });
        b.removeOutputs(b.airlockWs);
      } else {
        rmSync(b.turboCache, { recursive: true, force: true });
        b.removeOutputs(b.turboWs);
      }
    });
    cold.airlock.push(...one.airlock);
    cold.turbo.push(...one.turbo);
    floor.push(await b.floor());
  }
  const ratios = roundRatios(
    cold.airlock.map((o) => o.ms),
    cold.turbo.map((o) => o.ms),
  );
  console.log('');
  console.log(machineNote());
  printTable(
    ['scenario', 'airlock min / median / max', 'turbo min / median / max', 'airlock/turbo'],
    [
      [
        'cold',
        mmm(cold.airlock.map((o) => o.ms)),
        mmm(cold.turbo.map((o) => o.ms)),
        fmtRatios(ratios),
      ],
    ],
  );
  console.log(
    `outputs of both tools byte-identical after the cold builds: ${b.sameOutputs() ? 'yes' : 'NO'}`,
  );
  printFloor(cold.airlock, floor);
}

/** "min / median / max" of `xs` formatted by `fmt`. */
function mmm(xs: readonly number[], fmt: (x: number) => string = fmtMs): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${fmt(s[0]!)} / ${fmt(median(s))} / ${fmt(s[s.length - 1]!)}`;
}

/** A goal verdict only when every round's ratio is on the same side of it. */
function rangeVerdict(ratios: readonly number[], goal: number): string {
  if (ratios.every((r) => r <= goal)) return `goal met (<= ${goal.toFixed(2)}x in every round)`;
  if (ratios.every((r) => r > goal)) return `goal MISSED (<= ${goal.toFixed(2)}x in no round)`;
  return `no verdict: the rounds straddle ${goal.toFixed(2)}x`;
}

const ratio = (x: number): string => `${x.toFixed(2)}x`;
const FLOOR_GOAL = 1.15;

/** The cold build against its physical floor, round by round. */
function printFloor(cold: readonly Outcome[], floor: readonly Outcome[]): void {
  const ratios = cold.map((c, i) => c.ms / floor[i]!.ms);
  console.log('');
  console.log(
    `cold build against the floor (the same build scripts run bare with xargs -P${availableParallelism()}, no sandbox, hashing, packing or store; ${floor.length} rounds):`,
  );
  printTable(
    ['airlock cold min / median / max', 'floor min / median / max', 'airlock/floor', 'verdict'],
    [
      [
        mmm(cold.map((o) => o.ms)),
        mmm(floor.map((o) => o.ms)),
        mmm(ratios, ratio),
        rangeVerdict(ratios, FLOOR_GOAL),
      ],
    ],
  );
}

/** Sizes of the scale runs, in input files (200-file packages). */
const SCALE_SIZES = (process.env.AIRLOCK_BENCH_SCALE_SIZES ?? '10000,50000,100000')
  .split(',')
  .map((v) => Number.parseInt(v, 10))
  .filter((v) => Number.isFinite(v) && v > 0);
const SCALE_RUNS = envInt('AIRLOCK_BENCH_SCALE_RUNS', 3);
const SCALE_COLD_RUNS = envInt('AIRLOCK_BENCH_SCALE_COLD_RUNS', 1);
const RSS_GOAL_MB = 300;

/**
 * How cost grows with the input: cold, no-op and one file touched at each
 * size for both tools, plus Airlock's peak RSS, each size in a fresh directory.
 */
async function scale(): Promise<void> {
  const rows: string[][] = [];
  const noopMedians: { files: number; airlock: number; turbo: number }[] = [];
  let peakRss = 0;
  for (const files of SCALE_SIZES) {
    const shape = { packages: Math.max(1, Math.round(files / 200)), filesPerPackage: 200 };
    const dir = await mkdtemp(join(tmpdir(), `airlock-build-scale-${files}-`));
    try {
      const b = new Bench(dir, shape);
      const t0 = performance.now();
      await generateWorkspace(b.airlockWs, shape);
      await generateWorkspace(b.turboWs, shape);
      console.log(
        `\nscale ${shape.packages * shape.filesPerPackage} files (${shape.packages} packages), generated in ${fmtMs(performance.now() - t0)}`,
      );
      const cold = await measure(b, SCALE_COLD_RUNS, (tool) => {
        if (tool === 'airlock') {
          rmSync(b.store, { recursive: true, force: true });
          b.removeOutputs(b.airlockWs);
        } else {
          rmSync(b.turboCache, { recursive: true, force: true });
          b.removeOutputs(b.turboWs);
        }
      });
      const noop = await measure(b, SCALE_RUNS, () => {});
      let pending = 0;
      const one = await measure(b, SCALE_RUNS, () => {
        if (pending++ % 2 === 0) b.touchOneSource();
      });
      const rss = [...cold.airlock, ...noop.airlock, ...one.airlock].map((o) => o.rssKiB ?? 0);
      const maxRssMb = Math.max(...rss) / 1024;
      peakRss = Math.max(peakRss, maxRssMb);
      for (const [name, r] of [
        ['cold', cold],
        ['no-op', noop],
        ['one file touched', one],
      ] as const) {
        const a = r.airlock.map((o) => o.ms);
        const t = r.turbo.map((o) => o.ms);
        rows.push([
          String(shape.packages * shape.filesPerPackage),
          name,
          mmm(a),
          mmm(t),
          mmm(
            a.map((x, i) => x / t[i]!),
            ratio,
          ),
          `${(Math.max(...r.airlock.map((o) => o.rssKiB ?? 0)) / 1024).toFixed(0)} MB`,
        ]);
      }
      // Each size as soon as it is measured: a long run that is stopped still shows the sizes done.
      for (const row of rows.slice(-3)) console.log(`  ${row.join('  ')}`);
      noopMedians.push({
        files: shape.packages * shape.filesPerPackage,
        airlock: median(noop.airlock.map((o) => o.ms)),
        turbo: median(noop.turbo.map((o) => o.ms)),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    }
  }
  console.log('');
  console.log(machineNote());
  printTable(
    [
      'files',
      'scenario',
      'airlock min / median / max',
      'turbo min / median / max',
      'airlock/turbo',
      'airlock peak RSS',
    ],
    rows,
  );
  const first = noopMedians[0];
  if (first) {
    console.log('');
    console.log('no-op growth (median time at each size / at the smallest size):');
    for (const n of noopMedians) {
      console.log(
        `  ${String(n.files).padStart(7)} files: airlock ${(n.airlock / first.airlock).toFixed(2)}x, turbo ${(n.turbo / first.turbo).toFixed(2)}x`,
      );
    }
  }
  console.log(
    `airlock peak RSS over every scale run: ${peakRss.toFixed(0)} MB (goal < ${RSS_GOAL_MB} MB: ${peakRss < RSS_GOAL_MB ? 'met' : 'MISSED'})`,
  );
}

/** One untimed Airlock run per scenario under `--cpu-prof`, with its hottest functions printed. */
async function profile(b: Bench, out: string): Promise<void> {
  const steps: [Scenario, () => void][] = [
    ['no-op', () => {}],
    ['restore', () => b.removeOutputs(b.airlockWs)],
    ['one file touched', () => b.touchOneSource()],
    [
      'cold',
      () => {
        rmSync(b.store, { recursive: true, force: true });
        b.removeOutputs(b.airlockWs);
      },
    ],
  ];
  for (const [name, prepare] of steps) {
    const dir = join(out, name.replaceAll(' ', '-'));
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    mkdirSync(dir, { recursive: true });
    prepare();
    const o = await b.airlock(dir);
    console.log(
      `\nprofile of airlock, ${name} (${fmtMs(o.ms)} with the profiler on), main thread self time:`,
    );
    for (const h of hotSpots(dir, 12, REPO)) {
      console.log(
        `  ${h.selfMs.toFixed(0).padStart(6)} ms ${(h.share * 100).toFixed(1).padStart(5)}%  ${h.where}`,
      );
    }
  }
}

await main();
