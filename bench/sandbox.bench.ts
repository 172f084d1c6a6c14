// Per-step overhead of the sandbox: N runs of `true` through runInSandbox versus
// a plain spawn of `/bin/sh -c true`. Run with `npx tsx bench/sandbox.bench.ts [N]`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { prepareSandboxHost, probeSandbox, runInSandbox } from '../src/sandbox/index.js';

const N = Number(process.argv[2] ?? 50);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function plainSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'true'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), 'airlock-sandbox-bench-'));
try {
  // Warm up: the probe and the synthetic /etc are once per process, not per step.
  await probeSandbox();
  await prepareSandboxHost();
  const spec = {
    workDir: work,
    inputs: [],
    tools: [],
    env: {},
    sourceDateEpoch: 0,
    command: 'true',
  };
  await runInSandbox(spec);
  await plainSpawn();

  const plain = await time(plainSpawn);
  const sandboxed = await time(async () => {
    const r = await runInSandbox(spec);
    if (r.exitCode !== 0) throw new Error(`sandboxed true failed: ${r.stderr.toString()}`);
  });
  const mPlain = median(plain);
  const mSandbox = median(sandboxed);
  console.log(`runs:                 ${N}`);
  console.log(`plain spawn median:   ${mPlain.toFixed(2)} ms`);
  console.log(`runInSandbox median:  ${mSandbox.toFixed(2)} ms`);
  console.log(`per-step overhead:    ${(mSandbox - mPlain).toFixed(2)} ms (goal ≤ 10 ms)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
