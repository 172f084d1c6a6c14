// Benchmark: Airlock's hashing against the usual command-line tools.
//   1. hashFile on a 1 GiB file in the page cache vs `openssl dgst -sha256`.
//   2. walkGlobs + hashTree over the 10k-file bench workspace with an empty
//      stat cache vs `git hash-object --stdin-paths` over the same files;
//      then the same with a warm stat cache (for information).
// Run with: npx tsx bench/hash.bench.ts
// Knobs (env): AIRLOCK_BENCH_RUNS (default 5), AIRLOCK_BENCH_BIG_MIB (default 1024).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashFile } from '../src/hash/hash-file.js';
import { hashTree } from '../src/hash/inputs.js';
import { StatCache } from '../src/hash/stat-cache.js';
import { walkGlobs } from '../src/hash/walk.js';
import {
  fmtRatios,
  fmtSpread,
  machineNote,
  median,
  printTable,
  roundRatios,
  runOk,
  timeMs,
  verdict,
} from './lib/measure.js';
import { FULL_SHAPE, generateWorkspace } from './lib/workspace.js';

const envInt = (name: string, dflt: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = envInt('AIRLOCK_BENCH_RUNS', 5);
const BIG_MIB = envInt('AIRLOCK_BENCH_BIG_MIB', 1024);

/** The tools this bench compares against that are missing from PATH. */
function missingTools(): string[] {
  return ['openssl', 'git'].filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

/** Writes `mib` MiB of incompressible bytes (one 64 MiB random block repeated). */
async function writeBigFile(path: string, mib: number): Promise<void> {
  const block = randomBytes(Math.min(64, mib) * 1024 * 1024);
  const out = createWriteStream(path);
  for (let written = 0; written < mib * 1024 * 1024; written += block.length) {
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

async function main(): Promise<void> {
  const missing = missingTools();
  if (missing.length > 0) {
    console.log(`hash bench skipped: not installed: ${missing.join(', ')}`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'airlock-hash-bench-'));
  try {
    const rows: string[][] = [];

    // 1. One big file, already in the page cache.
    const big = join(dir, 'big.bin');
    await writeBigFile(big, BIG_MIB);
    await hashFile(big); // warm the page cache
    const ours: number[] = [];
    const theirs: number[] = [];
    let oursHex = '';
    let theirsHex = '';
    for (let r = 0; r < RUNS; r++) {
      ours.push(
        await timeMs(async () => {
          oursHex = (await hashFile(big)).digest.slice('sha256:'.length);
        }),
      );
      const o = await runOk('openssl', ['dgst', '-sha256', '-r', big]);
      theirs.push(o.ms);
      theirsHex = o.stdout.split(' ')[0]!;
    }
    const mibs = (ms: number): string => `${(BIG_MIB / (ms / 1000)).toFixed(0)} MiB/s`;
    // Speed ratio per round: ours relative to openssl's speed (>= 0.9 wanted).
    const speeds = roundRatios(theirs, ours);
    rows.push([
      `hashFile ${BIG_MIB} MiB vs openssl dgst`,
      `${fmtSpread(ours)} (median ${mibs(median(ours))})`,
      `${fmtSpread(theirs)} (median ${mibs(median(theirs))})`,
      `speed ${fmtRatios(speeds)}`,
      verdict(speeds, 0.9, 'min'),
    ]);
    const sameDigest = oursHex === theirsHex;
    rmSync(big, { force: true });

    // 2. The 10k-file workspace, files in the page cache.
    const ws = join(dir, 'ws');
    const sources = await generateWorkspace(ws, FULL_SHAPE);
    await sleep(250); // every file older than the racy-timestamp window of the stat cache
    const listed = (await walkGlobs(ws, ['**'])).matched;
    const pathsInput = `${listed.map((e) => e.path).join('\n')}\n`;
    await runOk('git', ['hash-object', '--stdin-paths'], { cwd: ws, input: pathsInput }); // warm
    const cold: number[] = [];
    const gitRuns: number[] = [];
    let fileCount = 0;
    let totalBytes = 0;
    for (let r = 0; r < RUNS; r++) {
      cold.push(
        await timeMs(async () => {
          const cache = StatCache.memory();
          const { matched } = await walkGlobs(ws, ['**']);
          const tree = await hashTree(ws, matched, cache);
          fileCount = tree.length;
          totalBytes = tree.reduce((n, e) => n + (e.kind === 'file' ? e.size : 0), 0);
          cache.close();
        }),
      );
      const g = await runOk('git', ['hash-object', '--stdin-paths'], {
        cwd: ws,
        input: pathsInput,
      });
      gitRuns.push(g.ms);
    }
    const warmCache = StatCache.memory();
    await hashTree(ws, (await walkGlobs(ws, ['**'])).matched, warmCache);
    const warm: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      warm.push(
        await timeMs(async () => {
          const { matched } = await walkGlobs(ws, ['**']);
          await hashTree(ws, matched, warmCache);
        }),
      );
    }
    warmCache.close();

    // Several large files on a cold cache: hashTree spreads them over every
    // core; the reference is hashing the same files one after another.
    const bigDir = join(dir, 'big');
    mkdirSync(bigDir);
    for (let i = 0; i < 8; i++)
      writeFileSync(join(bigDir, `f${i}.bin`), randomBytes(64 * 1024 * 1024));
    const bigFiles = (await walkGlobs(bigDir, ['*'])).matched;
    const pooled: number[] = [];
    const oneByOne: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      pooled.push(
        await timeMs(async () => void (await hashTree(bigDir, bigFiles, StatCache.memory()))),
      );
      oneByOne.push(
        await timeMs(async () => {
          for (const e of bigFiles) await hashFile(join(bigDir, e.path));
        }),
      );
    }
    rows.push([
      `hashTree 8 x 64 MiB cold vs the same one by one`,
      fmtSpread(pooled),
      fmtSpread(oneByOne),
      `speed ${fmtRatios(roundRatios(oneByOne, pooled))}`,
      '(information: all cores)',
    ]);
    const coldRatios = roundRatios(cold, gitRuns);
    rows.push([
      `walk+hashTree, cold stat cache vs git hash-object`,
      fmtSpread(cold),
      fmtSpread(gitRuns),
      `time ${fmtRatios(coldRatios)}`,
      verdict(coldRatios, 0.5, 'max'),
    ]);
    rows.push([
      `walk+hashTree, warm stat cache vs git hash-object`,
      fmtSpread(warm),
      fmtSpread(gitRuns),
      `time ${fmtRatios(roundRatios(warm, gitRuns))}`,
      '(information)',
    ]);

    console.log(
      `workspace: ${fileCount} files (${sources.length} sources), ${(totalBytes / 1024 / 1024).toFixed(1)} MiB; ${RUNS} rounds each, min / median / max; a verdict only when every round is on one side of the goal`,
    );
    console.log(machineNote());
    console.log('');
    printTable(
      [
        'measure',
        'airlock min / median / max',
        'reference tool min / median / max',
        'ratio per round',
        'verdict',
      ],
      rows,
    );
    console.log('');
    console.log(`hashFile and openssl agree on the digest: ${sameDigest ? 'yes' : 'NO'}`);
  } finally {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

await main();
