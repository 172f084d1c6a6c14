import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliOutput } from '../../src/cli/session.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO, 'bin', 'airlock.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the compiled CLI (built by `npm test`'s setup) as its own process and
 * captures everything. Use it where the test needs a real process: signals,
 * kill -9, a timeout, the environment or locale of a child (PATH, secrets in
 * the host environment), or the `bin/airlock.js` entry itself. Anything else
 * runs faster in this worker with `runCli`.
 */
export function airlock(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? REPO,
    ...(opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs, killSignal: 'SIGKILL' }),
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...opts.env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `airlock-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Copies the bundled demo example (without built outputs) to `dest`. */
export function copyDemo(dest: string): string {
  cpSync(join(REPO, 'examples', 'demo'), dest, {
    recursive: true,
    filter: (src) => !src.includes(`${join('examples', 'demo', 'dist')}`),
  });
  return dest;
}

/** Every file under `dir` (recursively), as its permission bits and base64 content. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const d of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) walk(p);
      else
        out[p] =
          `${(statSync(join(dir, p)).mode & 0o777).toString(8)} ${readFileSync(join(dir, p), 'base64')}`;
    }
  };
  walk('');
  return out;
}

/**
 * The environment variables a CLI run reads from its own `io.env` (the CLI
 * layer, and the use-cases it passes the run's environment to: host tools
 * on PATH, registries marked insecure): the only ones `runCli` can vary.
 * Anything else is read from the worker's environment and needs a process of
 * its own: `airlock()`.
 */
const CLI_ENV = new Set([
  'AIRLOCK_PASSWORD',
  'COSIGN_PASSWORD',
  'CI',
  'NO_COLOR',
  'PATH',
  'AIRLOCK_INSECURE_REGISTRIES',
]);

/**
 * Runs the CLI's `main` in this test worker with its own argv, working
 * directory, environment and captured stdout/stderr: the same command tree,
 * rendering and exit statuses as the binary, without starting Node and
 * loading every module again for each call.
 */
export async function runCli(
  args: string[],
  opts: {
    cwd?: string;
    env?: Record<string, string>;
    /** Aborting it is Ctrl-C for the run (default: never aborted). */
    signal?: AbortSignal;
    /** Sees stdout as it is written (e.g. to abort after some output). */
    onStdout?: (text: string) => void;
  } = {},
): Promise<CliResult> {
  for (const name of Object.keys(opts.env ?? {})) {
    if (!CLI_ENV.has(name))
      throw new Error(`runCli cannot set ${name} (the library reads it): spawn with airlock()`);
  }
  const { main } = await import('../../src/cli/main.js');
  const capture = (onWrite?: (text: string) => void): { stream: CliOutput; text: () => string } => {
    let text = '';
    const write = (chunk: string): boolean => {
      text += chunk;
      onWrite?.(text);
      return true;
    };
    return { stream: { write }, text: () => text };
  };
  const stdout = capture(opts.onStdout);
  const stderr = capture();
  const status = await main(['node', CLI, ...args], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...opts.env },
    stdout: stdout.stream,
    stderr: stderr.stream,
    signal: opts.signal ?? new AbortController().signal,
  });
  return { status, stdout: stdout.text(), stderr: stderr.text() };
}
