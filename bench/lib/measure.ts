// Shared by the benchmarks: timing, medians, ratio lines and goal verdicts.
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

// The benches time `airlock` run in-process (the build stamp included) unless a bench
// asks for the build daemon itself (build.bench.ts sets AIRLOCK_DAEMON per run): a
// daemon started on demand would serve later runs of the same project and outlive
// the bench's temporary directories.
process.env['AIRLOCK_DAEMON'] ??= '0';

/** The median of `xs` (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Milliseconds taken by `fn`, measured on the monotonic clock. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export interface RunResult {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing its output and the wall time from spawn to exit. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        ms: performance.now() - t0,
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Like `run`, but throws with the command's output when it exits non-zero. */
export async function runOk(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited with ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`,
    );
  }
  return r;
}

/** Formats milliseconds for a table: "412 ms" or "11.90 s". */
export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** The smallest, median and largest of `xs`. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** min / median / max of `xs` (NaN for none). */
export function spread(xs: readonly number[]): Spread {
  return {
    min: xs.length === 0 ? Number.NaN : Math.min(...xs),
    median: median(xs),
    max: xs.length === 0 ? Number.NaN : Math.max(...xs),
  };
}

/** "min / median / max" of `xs`, each formatted by `fmt` (default: milliseconds). */
export function fmtSpread(xs: readonly number[], fmt: (x: number) => string = fmtMs): string {
  const s = spread(xs);
  return `${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)}`;
}

/** "0.91x / 0.95x / 1.02x": a spread of ratios. */
export function fmtRatios(ratios: readonly number[]): string {
  return fmtSpread(ratios, (x) => `${x.toFixed(2)}x`);
}

/** Each round's ratio ours[i] / theirs[i]: rounds measured side by side share the machine's load. */
export function roundRatios(ours: readonly number[], theirs: readonly number[]): number[] {
  return ours.map((o, i) => o / theirs[i]!);
}

/**
 * The verdict on a goal from every round's value (a ratio, or a time): "goal
 * met" only when every round is on the right side of `goal` (at most `goal`
 * for 'max', at least for 'min'), "goal MISSED" only when every round is on
 * the wrong side, otherwise no verdict: one lucky or unlucky round never decides.
 */
export function verdict(
  values: readonly number[],
  goal: number,
  direction: 'max' | 'min',
  unit = 'x',
): string {
  const bound = `${direction === 'max' ? '<=' : '>='} ${goal.toFixed(2)}${unit}`;
  if (values.length === 0) return `no verdict: no rounds (${bound})`;
  const ok = (v: number): boolean => (direction === 'max' ? v <= goal : v >= goal);
  if (values.every(ok)) return `goal met (${bound} in every round)`;
  if (!values.some(ok)) return `goal MISSED (${bound} in no round)`;
  return `no verdict: the rounds straddle the goal (${bound})`;
}

/** Prints rows as a left-aligned, space-padded table. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
}

/** One line on the machine's cores and current load, to read noisy figures against. */
export function machineNote(): string {
  const [one, five] = loadavg();
  return `machine: ${availableParallelism()} cores, load average ${one!.toFixed(2)} (1 min) ${five!.toFixed(2)} (5 min)`;
}
