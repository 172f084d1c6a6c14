// Benchmark: `airlock build` against Turborepo on the same 50 × 200-file monorepo
// (two identical copies, one per tool, so neither disturbs the other's files).
// Scenarios: cold (empty caches), no-op (all cached, outputs present), restore
// (outputs deleted, restored from cache), one source file changed.
// Run with: npx tsx bench/build.bench.ts
// Knobs (env): AIRLOCK_BENCH_PACKAGES, AIRLOCK_BENCH_FILES, AIRLOCK_BENCH_RUNS (warm
// repetitions, default 5), AIRLOCK_BENCH_COLD_RUNS (default 2), AIRLOCK_BENCH_PROFILE=<dir>
// (one extra, untimed `node --cpu-prof` Airlock run per scenario, summarised).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fmtMs,
  fmtRatios,
  fmtSpread,
  machineNote,
  printTable,
  roundRatios,
  run,
  verdict,
  type RunResult,
} from './lib/measure.js';
import { hotSpots } from './lib/profile.js';
import { FULL_SHAPE, generateWorkspace, pkgName, sourcePath } from './lib/workspace.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const AIRLOCK_BIN = join(REPO, 'bin', 'airlock.js');
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

type Scenario = 'cold' | 'no-op' | 'restore' | 'one file touched';

/** Turbo's figures measured once on this machine class (2 cores), and each goal as a max ratio. */
const SCENARIOS: { name: Scenario; turboReferenceMs: number; goal: number }[] = [
  { name: 'cold', turboReferenceMs: 11_900, goal: 1.2 },
  { name: 'no-op', turboReferenceMs: 410, goal: 0.5 },
  { name: 'restore', turboReferenceMs: 710, goal: 0.8 },
  { name: 'one file touched', turboReferenceMs: 810, goal: 0.5 },
];

interface Outcome {
  ms: number;
  cached: number;
  total: number;
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
  readonly store: string;
  readonly turboCache: string;
  private edits = 0;

  constructor(readonly dir: string) {
    this.airlockWs = join(dir, 'ws-airlock');
    this.turboWs = join(dir, 'ws-turbo');
    this.store = join(dir, 'airlock-store');
    this.turboCache = join(dir, 'turbo-cache');
  }

  /** One `airlock build` of every target; the count of cached targets comes from its JSON report. */
  async airlock(profileDir?: string): Promise<Outcome> {
    const args = [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
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
      env: { ...process.env, AIRLOCK_HOME: join(this.dir, 'airlock-home'), NO_COLOR: '1' },
    });
    check('airlock', r);
    const report = JSON.parse(r.stdout) as { targets: { cached: boolean }[] };
    return {
      ms: r.ms,
      cached: report.targets.filter((t) => t.cached).length,
      total: report.targets.length,
    };
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
    for (let i = 0; i < SHAPE.packages; i++) {
      rmSync(join(ws, pkgName(i), 'dist'), { recursive: true, force: true });
    }
  }

  /** Changes the bytes of one source file in both copies in the same way. */
  touchOneSource(): void {
    this.edits++;
    const rel = sourcePath(
      Math.min(17, SHAPE.packages - 1),
      Math.min(42, SHAPE.filesPerPackage - 1),
    );
    for (const ws of [this.airlockWs, this.turboWs]) {
      const abs = join(ws, rel);
      const base = readFileSync(abs, 'utf8').replace(/\n\/\/ bench edit \d+\n$/, '\n');
      writeFileSync(abs, `${base}// bench edit ${this.edits}\n`);
    }
  }

  /** True when both copies hold byte-identical dist/ outputs. */
  sameOutputs(): boolean {
    for (let i = 0; i < SHAPE.packages; i++) {
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
): Promise<{ airlock: Outcome[]; turbo: Outcome[] }> {
  const out = { airlock: [] as Outcome[], turbo: [] as Outcome[] };
  for (let r = 0; r < runs; r++) {
    const order: ('airlock' | 'turbo')[] =
      r % 2 === 0 ? ['airlock', 'turbo'] : ['turbo', 'airlock'];
    for (const tool of order) {
      prepare(tool);
      out[tool].push(tool === 'airlock' ? await b.airlock() : await b.turbo());
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
  const dir = await mkdtemp(join(tmpdir(), 'airlock-build-bench-'));
  try {
    const b = new Bench(dir);
    const t0 = performance.now();
    const files = await generateWorkspace(b.airlockWs, SHAPE);
    await generateWorkspace(b.turboWs, SHAPE);
    console.log(
      `workspace: ${SHAPE.packages} targets x ${SHAPE.filesPerPackage} files = ${files.length} sources (two copies in ${dir}, generated in ${fmtMs(performance.now() - t0)})`,
    );
    console.log(
      `turbo ${execFileSync(TURBO_BIN, ['--version'], { encoding: 'utf8' }).trim()} (default concurrency 10), airlock -j default (${(
        await import('node:os')
      ).availableParallelism()} cores); warm scenarios: ${RUNS} rounds, cold: ${COLD_RUNS} rounds; min / median / max, a verdict only when every round is on one side of the goal`,
    );

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
    const identical = b.sameOutputs();
    results.set('no-op', await measure(b, RUNS, () => {}));
    results.set(
      'restore',
      await measure(b, RUNS, (tool) =>
        b.removeOutputs(tool === 'airlock' ? b.airlockWs : b.turboWs),
      ),
    );
    let pending = 0;
    results.set(
      'one file touched',
      await measure(b, RUNS, () => {
        // One edit per repetition, seen by both tools.
        if (pending++ % 2 === 0) b.touchOneSource();
      }),
    );

    const expectCached: Record<Scenario, (total: number) => number> = {
      cold: () => 0,
      'no-op': (n) => n,
      restore: (n) => n,
      'one file touched': (n) => n - 1,
    };
    const rows: string[][] = [];
    const warnings: string[] = [];
    for (const s of SCENARIOS) {
      const r = results.get(s.name)!;
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
    for (const w of warnings) console.log(`WARNING ${w}`);

    if (PROFILE_DIR) await profile(b, resolve(PROFILE_DIR));
  } finally {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
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
