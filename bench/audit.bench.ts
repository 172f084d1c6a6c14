// Benchmark: `airlock audit verify` over a log of 100,000 entries (goal < 1 s), and
// `airlock lineage --uses` over 1,000 artifacts with 500 components each (goal < 200 ms).
// Both through the use-cases the CLI calls (store opened, log read, result built), with
// same-run baselines: hashing the same rows alone (the floor of any chain check), and the
// bare index query under `--uses`.
// Run with: npm run bench -- audit   (or npx tsx bench/audit.bench.ts)
// Knobs (env): AIRLOCK_BENCH_RUNS (default 7), AIRLOCK_AUDIT_ENTRIES (default 100000).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog, type AuditEvent } from '../src/audit/index.js';
import { sha256 } from '../src/core/digest.js';
import { noEvents } from '../src/core/events.js';
import { runAuditVerify } from '../src/pipeline/audit.js';
import { runLineage } from '../src/pipeline/lineage.js';
import { Store } from '../src/store/index.js';
import { fmtMs, machineNote, median, printTable } from './lib/measure.js';

const envInt = (name: string, dflt: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = envInt('AIRLOCK_BENCH_RUNS', 7);
const ENTRIES = envInt('AIRLOCK_AUDIT_ENTRIES', 100_000);
const ARTIFACTS = 1000;
const COMPONENTS = 500;
const PACKAGES = 5000;

/** min / median / max of `xs` and a verdict only when the whole range is on one side of the goal. */
function row(name: string, xs: number[], goalMs?: number): string[] {
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  const v =
    goalMs === undefined
      ? ''
      : max < goalMs
        ? `goal met (< ${goalMs} ms)`
        : min >= goalMs
          ? `goal MISSED (< ${goalMs} ms)`
          : `no verdict: the range crosses ${goalMs} ms`;
  return [name, fmtMs(min), fmtMs(median(xs)), fmtMs(max), v];
}

async function rounds(fn: () => unknown): Promise<number[]> {
  await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** A build event like the ones `airlock build` records (the most common and largest kind). */
function buildEvent(i: number): AuditEvent {
  return {
    type: 'build',
    data: {
      project: 'bench',
      target: `t${i % 50}`,
      repository: 'https://git.example/bench.git',
      sourceCommit: createHash('sha1')
        .update(String(i >> 4))
        .digest('hex'),
      dirty: false,
      actionKey: sha256(`key ${i}`),
      cache: i % 3 === 0 ? 'miss' : 'hit',
      toolchain: [{ name: 'node', digest: sha256('node') }],
      sourceDateEpoch: 1_700_000_000,
      artifact: sha256(`artifact ${i}`),
      tag: `bench/t${i % 50}`,
      record: sha256(`record ${i}`),
      outputTree: sha256(`tree ${i}`),
      startedAt: 1_800_000_000_000 + i * 1000,
      finishedAt: 1_800_000_000_000 + i * 1000 + 500,
    },
  };
}

async function main(): Promise<void> {
  console.log(machineNote());
  const root = mkdtempSync(join(tmpdir(), 'airlock-audit-bench-'));
  try {
    const store = await Store.open(join(root, 'store'));
    const file = store.paths.auditDb;
    store.close();

    // 1. audit verify over ENTRIES entries.
    let t0 = performance.now();
    const log = AuditLog.open(file);
    log.database.transaction(() => {
      for (let i = 0; i < ENTRIES; i++)
        log.append(buildEvent(i), {
          time: 1_800_000_000_000 + i * 1000,
          actor: { user: 'ci', host: 'runner-1' },
        });
    })();
    const rows = [...log.rows()];
    log.close();
    console.log(`filled a log of ${ENTRIES} entries in ${fmtMs(performance.now() - t0)}`);
    const bytes = rows.reduce((n, r) => n + r.json.length, 0);
    console.log(`average entry: ${Math.round(bytes / rows.length)} bytes of canonical JSON`);

    const verifyUseCase = await rounds(async () => {
      const r = await runAuditVerify({ store: join(root, 'store'), events: noEvents });
      if (!r.ok || r.entries !== ENTRIES) throw new Error('the bench log does not verify');
    });
    const hashOnly = await rounds(() => {
      for (const r of rows) sha256(r.json);
    });
    const readOnly = await rounds(() => {
      const l = AuditLog.open(file);
      try {
        let n = 0;
        for (const r of l.rows()) n += r.json.length;
        return n;
      } finally {
        l.close();
      }
    });

    // 2. lineage --uses over ARTIFACTS artifacts × COMPONENTS components.
    t0 = performance.now();
    const uses = AuditLog.open(file);
    let seed = 7;
    const rand = (k: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % k;
    };
    const lineageArtifacts: string[] = [];
    uses.database.transaction(() => {
      for (let a = 0; a < ARTIFACTS; a++) {
        const ev = buildEvent(ENTRIES + a);
        const purls = new Set<string>();
        while (purls.size < COMPONENTS) purls.add(`pkg:npm/pkg-${rand(PACKAGES)}@1.0.${rand(3)}`);
        uses.append(ev, { time: 0, actor: { user: 'ci', host: 'runner-1' } }, [...purls]);
        lineageArtifacts.push((ev.data as { artifact: string }).artifact);
      }
    })();
    const popular = 'pkg:npm/pkg-42@1.0.1';
    const hits = uses.artifactsUsing(popular).length;
    const prefixHits = uses.artifactsUsingPrefix('pkg:npm/pkg-42@').length;
    const indexOnly = await rounds(() => uses.artifactsUsing(popular));
    uses.close();
    console.log(
      `indexed ${ARTIFACTS} artifacts × ${COMPONENTS} components (${PACKAGES} packages, 3 versions each) in ${fmtMs(performance.now() - t0)}; ${popular} is in ${hits} artifacts, pkg-42 (any version) in ${prefixHits}`,
    );
    const exact = await rounds(async () => {
      const g = await runLineage({ store: join(root, 'store'), events: noEvents, uses: popular });
      if (g.nodes.filter((n) => n.kind === 'artifact').length !== hits)
        throw new Error('wrong answer');
    });
    const anyVersion = await rounds(() =>
      runLineage({ store: join(root, 'store'), events: noEvents, uses: 'pkg-42' }),
    );

    console.log(`\n${RUNS} rounds after 1 warm-up; ${machineNote()}`);
    printTable(
      ['case', 'min', 'median', 'max', 'verdict'],
      [
        row(`audit verify, ${ENTRIES} entries (use-case)`, verifyUseCase, 1000),
        row(`  baseline: sha256 of the same ${ENTRIES} rows alone`, hashOnly),
        row(`  baseline: reading the ${ENTRIES} rows from SQLite alone`, readOnly),
        row(`lineage --uses ${popular} (use-case, ${hits} artifacts)`, exact, 200),
        row(`lineage --uses pkg-42 (any version, ${prefixHits} hits)`, anyVersion, 200),
        row('  baseline: the index query alone', indexOnly),
      ],
    );
    console.log(
      `\naudit verify / (reading + hashing alone): ${(median(verifyUseCase) / (median(hashOnly) + median(readOnly))).toFixed(2)}× (medians)`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
