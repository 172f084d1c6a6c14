// Per-step overhead of the sandbox: `true` through runInSandbox against a plain
// spawn of `/bin/sh -c true`, with the pieces of the spawn path timed on their
// own in the same rounds (the perl launcher alone, bwrap alone). Several rounds
// of N runs each; a round's figure is its median; min / median / max over rounds.
// Run: npm run bench -- sandbox   (AIRLOCK_BENCH_RUNS rounds, default 5; N = argv[2], default 20)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  bwrapArgs,
  prepareSandboxHost,
  probeSandbox,
  runInSandbox,
  settleSandboxScratch,
  type SandboxSpec,
} from '../src/sandbox/index.js';
import { launcherArgs } from '../src/sandbox/launcher.js';
import { fmtSpread, machineNote, median, printTable, verdict } from './lib/measure.js';

const N = Number(process.argv[2] ?? 20);
const ROUNDS = Number(process.env['AIRLOCK_BENCH_RUNS'] ?? 5);
const GOAL_MS = 10;

function spawnOk(file: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: {}, cwd: '/' });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} exited ${code}: ${err}`)),
    );
  });
}

const work = mkdtempSync(join(tmpdir(), 'airlock-sandbox-bench-'));
try {
  // The probe and the synthetic /etc are once per process, not per step.
  const probe = await probeSandbox();
  const host = await prepareSandboxHost();
  const spec: SandboxSpec = {
    workDir: work,
    inputs: [],
    tools: [],
    env: {},
    sourceDateEpoch: 0,
    command: 'true',
  };
  const bare = bwrapArgs(spec, host);
  const cases: [string, () => Promise<unknown>][] = [
    ['plain spawn of sh -c true', () => spawnOk('/bin/sh', ['-c', 'true'])],
    [
      'perl launcher -> /bin/true',
      () => spawnOk(probe.perl, launcherArgs(probe.syscalls, process.pid, '/bin/true', [], 2)),
    ],
    ['bwrap alone (same mounts, no launcher)', () => spawnOk(probe.bwrap, bare)],
    [
      'runInSandbox',
      async () => {
        const r = await runInSandbox(spec);
        if (r.exitCode !== 0) throw new Error(`sandboxed true failed: ${r.stderr.toString()}`);
      },
    ],
  ];
  for (const [, run] of cases) await run(); // warm-up
  // rounds[case][round] = the round's median, the cases interleaved run by run.
  const rounds = cases.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    const samples = cases.map(() => [] as number[]);
    for (let i = 0; i < N; i++) {
      for (const [c, [, run]] of cases.entries()) {
        const t0 = performance.now();
        await run();
        samples[c]!.push(performance.now() - t0);
      }
    }
    samples.forEach((xs, c) => rounds[c]!.push(median(xs)));
  }
  const plain = rounds[0]!;
  const overhead = rounds[3]!.map((x, r) => x - plain[r]!);
  console.log(
    `sandbox: ${ROUNDS} rounds of ${N} runs each, a round's figure is its median; min / median / max over rounds (${machineNote()})`,
  );
  printTable(
    ['what', 'min / median / max'],
    [
      ...cases.map(([name], c) => [name, fmtSpread(rounds[c]!, (x) => `${x.toFixed(1)} ms`)]),
      [
        'launcher cost (launcher - plain)',
        fmtSpread(
          rounds[1]!.map((x, r) => x - plain[r]!),
          (x) => `${x.toFixed(1)} ms`,
        ),
      ],
      [
        'per-step overhead (runInSandbox - plain)',
        fmtSpread(overhead, (x) => `${x.toFixed(1)} ms`),
      ],
    ],
  );
  console.log(
    `per-step overhead, goal <= ${GOAL_MS} ms: ${verdict(overhead, GOAL_MS, 'max', ' ms')}`,
  );
} finally {
  await settleSandboxScratch();
  rmSync(work, { recursive: true, force: true });
}
