import { spawn } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  rmdirSync,
  statSync,
} from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, realpath, rm, rmdir, stat } from 'node:fs/promises';
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

/** A staging directory made ahead of the run that takes it: when it was finished, or undefined while it is being made. */
interface Spare {
  dir: string;
  madeAt: number | undefined;
}

/**
 * Staging directories made ahead, by name prefix (parent directory included):
 * each run takes the spare made beside its work directory, if any, and has the
 * next one made in the thread pool while it runs. On a busy disk the three
 * `mkdir`s wait behind other processes' journal commits for milliseconds; this
 * keeps them off every step but the first.
 */
const spares = new Map<string, Spare>();
/** The spares being made, by prefix. */
const makingSpare = new Map<string, Promise<void>>();
/** A spare older than this is not used (and is removed): its directory could have been tampered with or removed. */
const SPARE_MAX_AGE_MS = 60_000;

/**
 * Where a run's staging directory is made: beside `workDir`, named like it
 * with its first word replaced (work-<owner>-Xa9b2c gives
 * overlay-<owner>-Qz81Lk), so whoever removes a dead owner's work directory
 * removes this one too.
 */
function stagingPrefix(workDir: string): string {
  const base = basename(workDir);
  const owned = /^[a-z]+-(.+-)[A-Za-z0-9]{6}$/.exec(base);
  return join(dirname(workDir), owned ? `overlay-${owned[1]}` : `${base}.overlay-`);
}

/** True when `dir` still holds the two empty directories a staging directory starts with, and nothing else. */
function isFreshStaging(dir: string): boolean {
  try {
    return (
      readdirSync(dir).sort().join('/') === 'empty/work' &&
      readdirSync(join(dir, 'empty')).length === 0 &&
      readdirSync(join(dir, 'work')).length === 0
    );
  } catch {
    return false;
  }
}

function makeStagingSync(prefix: string): string {
  const dir = mkdtempSync(prefix);
  mkdirSync(join(dir, 'empty'), { mode: 0o755 });
  mkdirSync(join(dir, 'work'), { mode: 0o700 });
  return dir;
}

/** Makes the next spare for `prefix` in the background, unless one is there or on its way. */
function makeSpare(prefix: string, clock: { now(): number }): void {
  if (spares.has(prefix) || makingSpare.has(prefix)) return;
  registerExitCleanup();
  const making = (async () => {
    const spare: Spare = { dir: await mkdtemp(prefix), madeAt: undefined };
    // Recorded at once: if the process exits now, the exit hook removes it.
    spares.set(prefix, spare);
    await mkdir(join(spare.dir, 'empty'), { mode: 0o755 });
    await mkdir(join(spare.dir, 'work'), { mode: 0o700 });
    spare.madeAt = clock.now();
  })()
    .catch(() => {
      // No spare this time: the next run makes its own.
      const failed = spares.get(prefix);
      if (failed !== undefined) {
        spares.delete(prefix);
        scheduleRemoval(failed.dir);
      }
    })
    .finally(() => makingSpare.delete(prefix));
  makingSpare.set(prefix, making);
}

/**
 * The launcher's staging plan for a run: the directories to hide, plus the two
 * empty directories the overlays need, in a fresh directory beside `workDir`
 * (overlay's own work directory must share the upper layer's filesystem):
 * the spare made ahead when there is a fresh, untouched one, else made now.
 */
function stagingDirs(workDir: string, hidden: string[]): StagingPlan {
  // Blocking calls: a handful of metadata operations cost microseconds each,
  // where thread-pool round trips cost far more on a busy machine.
  const prefix = stagingPrefix(workDir);
  const clock = { now: () => performance.now() };
  const spare = spares.get(prefix);
  let dir: string | undefined;
  if (spare?.madeAt !== undefined) {
    spares.delete(prefix);
    if (clock.now() - spare.madeAt <= SPARE_MAX_AGE_MS && isFreshStaging(spare.dir))
      dir = spare.dir;
    else scheduleRemoval(spare.dir);
  }
  dir ??= makeStagingSync(prefix);
  makeSpare(prefix, clock);
  return {
    hidden,
    workDir,
    emptyDir: join(dir, 'empty'),
    overlayWorkDir: join(dir, 'work'),
  };
}

/**
 * Removes a directory `stagingDirs` made. Overlay leaves `work/work` behind,
 * and with `volatile` `work/incompat/volatile/dirty`, all mode 000: each
 * directory is made ours to list before it is emptied.
 */
function removeTreeSync(path: string): void {
  if (lstatSync(path).isDirectory()) {
    chmodSync(path, 0o700);
    for (const name of readdirSync(path)) removeTreeSync(join(path, name));
    rmdirSync(path);
  } else rmSync(path, { force: true });
}

async function removeTree(path: string): Promise<void> {
  if ((await lstat(path)).isDirectory()) {
    await chmod(path, 0o700);
    for (const name of await readdir(path)) await removeTree(join(path, name));
    await rmdir(path);
  } else await rm(path, { force: true });
}

/** Staging directories whose removal is under way, by path, and the removals themselves. */
const scratchRemovals = new Map<string, Promise<void>>();
let removeAtExit = false;

/** Removes, when the process exits, every staging directory still pending removal and every unused spare. */
function registerExitCleanup(): void {
  if (removeAtExit) return;
  removeAtExit = true;
  process.once('exit', () => {
    for (const path of [
      ...scratchRemovals.keys(),
      ...deferred,
      ...[...spares.values()].map((s) => s.dir),
    ]) {
      try {
        removeTreeSync(path);
      } catch {
        // Gone already, or left for gc's rule on dead owners' and old temp entries.
      }
    }
  });
}

/** Removes `root` (a staging directory) in the background; see `removeStagingDirs`. */
function scheduleRemoval(root: string): void {
  registerExitCleanup();
  const removal = new Promise<void>((resolve) => setImmediate(resolve))
    .then(() => removeTree(root))
    .catch(() => {
      // Left for gc's rule on dead owners' and old temp entries (named after the work directory's owner).
    })
    .finally(() => scratchRemovals.delete(root));
  scratchRemovals.set(root, removal);
}

/** Finished runs' staging directories not yet handed to `scheduleRemoval`: they wait for the sandbox to be idle. */
const deferred = new Set<string>();
/** Runs under way (between the call of `runInSandbox` and its result). */
let activeRuns = 0;
let idleTimer: NodeJS.Timeout | undefined;
/** How long no run may be under way before the deferred staging directories are removed. */
const IDLE_MS = 250;
/** More deferred staging directories than this are removed at once, idle or not. */
const MAX_DEFERRED = 64;

/** Hands every deferred staging directory to `scheduleRemoval`. */
function flushDeferred(): void {
  clearTimeout(idleTimer);
  idleTimer = undefined;
  for (const root of deferred) scheduleRemoval(root);
  deferred.clear();
}

/** A run starts: the deferred removals wait until no run is under way. */
function beginRun(): void {
  activeRuns++;
  clearTimeout(idleTimer);
  idleTimer = undefined;
}

/** A run has its result: once none is under way for `IDLE_MS`, the deferred staging directories go. */
function endRun(): void {
  activeRuns--;
  if (activeRuns > 0 || deferred.size === 0) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(flushDeferred, IDLE_MS);
  // Never what keeps the process alive: the exit hook removes what is left.
  idleTimer.unref();
}

/**
 * Removes a run's staging directory off the critical path of the steps: the
 * run has ended (the launcher is gone, and its mount namespace with it) and
 * nothing of the step's output lives there. The removal waits until no run
 * has been under way for `IDLE_MS` (or `MAX_DEFERRED` directories wait), then
 * goes through the thread pool in one batch; whatever is still pending when
 * the process exits is removed then, synchronously; `settleSandboxScratch`
 * removes them at once and waits. Why wait: steps that follow each other
 * closely would otherwise share the machine with a dozen metadata operations
 * each, and on ext4 without a journal the inode allocator skips every inode
 * freed in the last minute one inode-table lookup at a time, so each removal
 * slows the inode allocations of the next steps' overlays (their work
 * directories and feature probes).
 */
function removeStagingDirs(plan: StagingPlan): void {
  registerExitCleanup();
  deferred.add(dirname(plan.emptyDir));
  if (deferred.size > MAX_DEFERRED) flushDeferred();
}

/**
 * Resolves once the scratch directories of every finished sandbox run are
 * removed (they are removed in the background once the sandbox is idle; see
 * `removeStagingDirs`), the spares made ahead for the next runs included. Never
 * rejects: a directory that cannot be removed is left for gc.
 */
export async function settleSandboxScratch(): Promise<void> {
  flushDeferred();
  for (;;) {
    if (makingSpare.size > 0) {
      await Promise.all(makingSpare.values());
      continue;
    }
    for (const [prefix, spare] of spares) {
      spares.delete(prefix);
      scheduleRemoval(spare.dir);
    }
    if (scratchRemovals.size === 0) return;
    await Promise.all(scratchRemovals.values());
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
  beginRun();
  try {
    return await runSandboxed(spec);
  } finally {
    endRun();
  }
}

async function runSandboxed(spec: SandboxSpec): Promise<SandboxResult> {
  const { signal } = spec;
  if (signal?.aborted === true) throw aborted(signal);
  const [probe, host, rootfs] = await Promise.all([
    probeSandbox(),
    prepareSandboxHost(),
    spec.rootfs === undefined ? undefined : readRootfsLayout(spec.rootfs),
  ]);

  let workDir: string;
  try {
    // Blocking calls, like `stagingDirs`: cheaper than two thread-pool round trips.
    workDir = realpathSync.native(spec.workDir);
    if (!statSync(workDir).isDirectory()) throw new Error('not a directory');
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
      ...(host.syntheticEtcDir === undefined ? [] : [{ path: host.syntheticEtcDir, dir: true }]),
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
