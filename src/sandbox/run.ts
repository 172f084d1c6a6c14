import { spawn } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  rmdirSync,
} from 'node:fs';
import { lstat, realpath, rm, rmdir, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { AirlockError, errnoCode, systemClock } from '../core/index.js';
import { bwrapArgs } from './args.js';
import { hiddenDirs, type BindSource } from './hide.js';
import { launcherArgs, type StagingPlan } from './launcher.js';
import { seccompFilter } from './seccomp.js';
import { prepareSandboxHost, probeSandbox, readRootfsLayout } from './host.js';
import type { SandboxErrorCode, SandboxResult, SandboxSpec } from './types.js';

function invalidSpec(
  message: string,
  hint: string,
  details: Record<string, unknown>,
  cause?: unknown,
): AirlockError<SandboxErrorCode> {
  return new AirlockError<SandboxErrorCode>('SANDBOX_INVALID_SPEC', message, {
    hint,
    details,
    cause,
  });
}

function aborted(signal: AbortSignal): AirlockError<SandboxErrorCode> {
  return new AirlockError<SandboxErrorCode>('SANDBOX_FAILED', 'the sandboxed step was aborted', {
    hint: 'The caller cancelled the step; run it again to finish it.',
    details: { aborted: true },
    cause: signal.reason,
  });
}

/** The real path of a declared input, refusing a source that is itself a symlink (it could point anywhere on the host). */
async function resolveInputSource(source: string): Promise<BindSource> {
  try {
    const st = await lstat(source);
    if (st.isSymbolicLink()) {
      throw invalidSpec(
        `input ${source} is a symlink`,
        'Declare the file or directory the link points to, or stage a copy; a symlinked input could expose anything on the host.',
        { source },
      );
    }
    if (!st.isFile() && !st.isDirectory()) {
      throw invalidSpec(
        `input ${source} is not a regular file or directory`,
        'Sockets, FIFOs and devices are never inputs: a read-only bind does not stop connect() or writes to a FIFO. Declare regular files instead.',
        { source },
      );
    }
    return { path: await realpath(source), dir: st.isDirectory() };
  } catch (err) {
    if (err instanceof AirlockError) throw err;
    throw invalidSpec(
      `input ${source} cannot be read`,
      'Declare only inputs that exist (run `airlock fetch` for dependencies).',
      { source, errno: errnoCode(err) },
      err,
    );
  }
}

/** The real path of a host tool binary, which must be a regular file. */
async function resolveTool(tool: {
  name: string;
  path: string;
  link?: boolean;
}): Promise<{ name: string; path: string; link?: boolean }> {
  try {
    const path = await realpath(tool.path);
    if (!(await stat(path)).isFile()) throw new Error('not a regular file');
    return { name: tool.name, path, ...(tool.link === true ? { link: true } : {}) };
  } catch (err) {
    throw invalidSpec(
      `tool ${tool.name} (${tool.path}) is not a readable file`,
      'Point the tool at an installed binary, e.g. the output of `command -v node`.',
      { name: tool.name, path: tool.path },
      err,
    );
  }
}

/** The host paths below `workDir` that bwrap will create as mount points for relative inputs, deepest first. */
async function missingMountPoints(workDir: string, dests: string[]): Promise<string[]> {
  const created: string[] = [];
  for (const dest of dests) {
    if (dest.startsWith('/')) continue;
    const parts = dest.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const path = join(workDir, ...parts.slice(0, i));
      try {
        await lstat(path);
      } catch {
        for (let j = i; j <= parts.length; j++) created.push(join(workDir, ...parts.slice(0, j)));
        break;
      }
    }
  }
  return [...new Set(created)].sort((a, b) => b.length - a.length);
}

/** Removes mount-point stubs bwrap left in the work directory, but only while they are still empty. */
async function removeStubs(paths: string[]): Promise<void> {
  for (const path of paths) {
    try {
      const st = await lstat(path);
      if (st.isDirectory()) await rmdir(path);
      else if (st.isFile() && st.size === 0) await rm(path);
    } catch {
      // Gone already, or the step put something there: leave it for the caller.
    }
  }
}

/**
 * The launcher's staging plan for a run: the directories to hide, plus the two
 * empty directories the overlays need, made in a fresh directory beside
 * `workDir` (overlay's own work directory must share the upper layer's
 * filesystem).
 */
function stagingDirs(workDir: string, hidden: string[]): StagingPlan {
  // Blocking calls: a handful of metadata operations cost microseconds each,
  // where thread-pool round trips cost far more on a busy machine.
  // Named like the work directory with its first word replaced (work-<owner>-Xa9b2c
  // gives overlay-<owner>-Qz81Lk), so whoever removes a dead owner's work
  // directory removes this one too.
  const base = basename(workDir);
  const owned = /^[a-z]+-(.+-)[A-Za-z0-9]{6}$/.exec(base);
  const dir = mkdtempSync(
    join(dirname(workDir), owned ? `overlay-${owned[1]}` : `${base}.overlay-`),
  );
  const plan = {
    hidden,
    workDir,
    emptyDir: join(dir, 'empty'),
    overlayWorkDir: join(dir, 'work'),
  };
  mkdirSync(plan.emptyDir, { mode: 0o755 });
  mkdirSync(plan.overlayWorkDir, { mode: 0o700 });
  return plan;
}

/**
 * Removes what `stagingDirs` made. Overlay leaves `work/work` behind, and with
 * `volatile` `work/work/incompat/volatile/dirty`, all mode 000: each directory
 * is made ours to list before it is emptied.
 */
function removeStagingDirs(plan: StagingPlan): void {
  const remove = (path: string): void => {
    if (lstatSync(path).isDirectory()) {
      chmodSync(path, 0o700);
      for (const name of readdirSync(path)) remove(join(path, name));
      rmdirSync(path);
    } else rmSync(path, { force: true });
  };
  try {
    remove(dirname(plan.emptyDir));
  } catch {
    // Left for gc's rule on old temp entries.
  }
}

/** The signal behind an exit status above 128, as shells and bwrap's init report it. */
function signalOf(exitCode: number): NodeJS.Signals | null {
  if (exitCode <= 128) return null;
  const entry = Object.entries(osConstants.signals).find(([, n]) => n === exitCode - 128);
  return entry === undefined ? null : (entry[0] as NodeJS.Signals);
}

/** The last `exit-code` bwrap wrote to its JSON status fd; undefined when the sandbox never ran the command to completion. */
function parseStatus(text: string): number | undefined {
  let exitCode: number | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(line);
      if (
        typeof value === 'object' &&
        value !== null &&
        'exit-code' in value &&
        typeof value['exit-code'] === 'number'
      ) {
        exitCode = value['exit-code'];
      }
    } catch {
      // bwrap writes one JSON object per line; ignore a torn one.
    }
  }
  return exitCode;
}

/**
 * Runs `spec.command` in a fresh bubblewrap sandbox (see `bwrapArgs`) and
 * resolves with its exit status, signal and complete output once every process
 * in it has exited. Rejects with SANDBOX_UNAVAILABLE when bwrap cannot run here,
 * SANDBOX_INVALID_SPEC for a bad spec, SANDBOX_FAILED when the sandbox could not
 * be set up or the step was aborted; a failing command is a result, not an error.
 */
export async function runInSandbox(spec: SandboxSpec): Promise<SandboxResult> {
  const { signal } = spec;
  if (signal?.aborted === true) throw aborted(signal);
  const [probe, host, rootfs] = await Promise.all([
    probeSandbox(),
    prepareSandboxHost(),
    spec.rootfs === undefined ? undefined : readRootfsLayout(spec.rootfs),
  ]);

  let workDir: string;
  try {
    workDir = await realpath(spec.workDir);
    if (!(await stat(workDir)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw invalidSpec(
      `work directory ${spec.workDir} is not a directory`,
      'Create the scratch directory before running the step.',
      { workDir: spec.workDir },
      err,
    );
  }
  const sources = await Promise.all(spec.inputs.map((i) => resolveInputSource(i.source)));
  const inputs = spec.inputs.map((i, n) => ({ source: sources[n]!.path, dest: i.dest }));
  const tools = await Promise.all(spec.tools.map(resolveTool));
  const etcFiles = await Promise.all(
    (spec.variant?.etcFiles ?? []).map(async (f) => ({
      path: join(await realpath(dirname(f.source)), 'x'),
      dir: false,
    })),
  );
  const hidden = hiddenDirs(
    [
      ...sources,
      ...tools.map((t) => ({ path: t.path, dir: false })),
      ...etcFiles,
      ...(rootfs === undefined ? [] : [{ path: rootfs.path, dir: true }]),
      ...(host.syntheticEtcDir === undefined
        ? []
        : [{ path: await realpath(host.syntheticEtcDir), dir: true }]),
    ],
    host.rootDirs,
    workDir,
  );
  const seccomp = seccompFilter(process.arch);
  const args = [
    '--json-status-fd',
    '3',
    ...(seccomp === undefined ? [] : ['--seccomp', '4']),
    ...bwrapArgs(
      { ...spec, workDir, inputs, tools, ...(rootfs ? { rootfs: rootfs.path } : {}) },
      host,
      rootfs,
    ),
  ];
  const stubs = await missingMountPoints(
    workDir,
    inputs.map((i) => i.dest),
  );

  const staging = stagingDirs(workDir, hidden);
  const clock = spec.clock ?? systemClock;
  const started = clock.now();
  try {
    return await new Promise<SandboxResult>((resolve, reject) => {
      // Through the launcher: it closes every inherited descriptor but the ones
      // passed here (stdio, status, seccomp program) and takes the whole sandbox
      // down with it (see launcher.ts). stdin is /dev/null.
      const child = spawn(
        probe.perl,
        launcherArgs(
          probe.syscalls,
          process.pid,
          probe.bwrap,
          args,
          seccomp ? 4 : 3,
          spec.variant?.umask,
          staging,
        ),
        {
          stdio: ['ignore', 'pipe', 'pipe', 'pipe', ...(seccomp ? (['pipe'] as const) : [])],
          env: { ...spec.variant?.hostEnv },
          cwd: '/',
        },
      );
      // A few hundred bytes: fits the pipe buffer, so bwrap reads it whenever it likes.
      // bwrap may fail before reading it: a broken pipe then is not our error to report.
      if (seccomp) {
        const program = child.stdio[4] as NodeJS.WritableStream;
        program.on('error', () => {});
        program.end(seccomp);
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const status: Buffer[] = [];
      // Why the sandbox was killed from here, when it was: decides the rejection.
      let stopped: AirlockError<SandboxErrorCode> | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      // The launcher kills bwrap and everything orphaned to it on SIGTERM; SIGKILL
      // is the fallback should the launcher itself not answer.
      const stop = (why?: AirlockError<SandboxErrorCode>): void => {
        if (stopped !== undefined || child.exitCode !== null || child.signalCode !== null) return;
        if (why !== undefined) stopped = why;
        child.kill('SIGTERM');
        graceTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
        graceTimer.unref();
      };
      let printed = 0;
      const onData = (stream: 'stdout' | 'stderr', into: Buffer[]) => (chunk: Buffer) => {
        if (stopped !== undefined) return;
        printed += chunk.length;
        if (spec.maxOutputBytes !== undefined && printed > spec.maxOutputBytes) {
          stop(
            new AirlockError<SandboxErrorCode>(
              'SANDBOX_OUTPUT_LIMIT',
              `the step printed more than ${spec.maxOutputBytes} bytes and was killed`,
              {
                hint: 'Print less (redirect verbose output to a file under /tmp), or raise the log limit.',
                details: { maxOutputBytes: spec.maxOutputBytes },
              },
            ),
          );
          return;
        }
        into.push(chunk);
        spec.onOutput?.(stream, chunk);
      };
      child.stdout?.on('data', onData('stdout', out));
      child.stderr?.on('data', onData('stderr', err));
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => status.push(chunk));
      const timer =
        spec.timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                stop(
                  new AirlockError<SandboxErrorCode>(
                    'SANDBOX_TIMEOUT',
                    `the step ran longer than ${spec.timeoutMs} ms and was killed with everything it started`,
                    {
                      hint: 'Make the step finish sooner, or raise its timeout.',
                      details: { timeoutMs: spec.timeoutMs },
                    },
                  ),
                ),
              // setTimeout fires at once beyond 2^31-1 ms (24.8 days): cap it there.
              Math.min(spec.timeoutMs, 2_147_483_647),
            );
      const onAbort = (): void => stop();
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
        clearTimeout(graceTimer);
      };
      child.on('error', (cause) => {
        settle();
        reject(
          new AirlockError<SandboxErrorCode>('SANDBOX_FAILED', `could not start ${probe.bwrap}`, {
            hint: 'Check that bubblewrap is installed and executable.',
            details: { bwrap: probe.bwrap },
            cause,
          }),
        );
      });
      child.on('close', (code, killedBy) => {
        settle();
        if (signal?.aborted === true) {
          reject(aborted(signal));
          return;
        }
        if (stopped !== undefined) {
          reject(stopped);
          return;
        }
        const stderr = Buffer.concat(err);
        const exitCode = parseStatus(Buffer.concat(status).toString('utf8'));
        if (exitCode === undefined) {
          const message = stderr.toString('utf8').trim().split('\n').at(-1) ?? '';
          reject(
            new AirlockError<SandboxErrorCode>(
              'SANDBOX_FAILED',
              `bubblewrap could not set up the sandbox: ${message || `exit ${String(code ?? killedBy)}`}`,
              {
                hint: 'Check that every input, tool and the work directory exist and are readable; bwrap names the path it choked on.',
                details: { exitCode: code, signal: killedBy, stderr: stderr.toString('utf8') },
              },
            ),
          );
          return;
        }
        resolve({
          exitCode,
          signal: signalOf(exitCode),
          stdout: Buffer.concat(out),
          stderr,
          durationMs: clock.now() - started,
        });
      });
    });
  } finally {
    await removeStubs(stubs);
    removeStagingDirs(staging);
  }
}
