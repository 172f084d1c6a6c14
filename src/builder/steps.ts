import type { TargetConfig } from '../config/index.js';
import type { Digest } from '../core/digest.js';
import { AirlockError, isAirlockError } from '../core/errors.js';
import type { SandboxSpec } from '../sandbox/types.js';
import type { ActionResult } from './action.js';
import { runnerOf, type BuildContext } from './context.js';
import type { BuildErrorCode } from './errors.js';
import { failureExcerpt, formatExcerpt } from './step-log.js';

/**
 * Runs every step of `target` in order in the sandbox described by `spec`,
 * streaming output as events and saving each step's stdout and stderr in the
 * store; the first failing step throws STEP_FAILED (or a limit error) with
 * the tail of its output.
 */
export async function runSteps(
  ctx: BuildContext,
  target: TargetConfig,
  spec: Omit<SandboxSpec, 'command'>,
): Promise<ActionResult['logs']> {
  const runner = await runnerOf(ctx);
  const logs: ActionResult['logs'] = [];
  for (let i = 0; i < target.steps.length; i++) {
    const command = target.steps[i]!;
    ctx.events({
      type: 'step',
      target: target.name,
      index: i,
      total: target.steps.length,
      command,
    });
    const run = await runner
      .run({
        ...spec,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        command,
        timeoutMs: target.limits.timeoutSeconds * 1000,
        maxOutputBytes: target.limits.logBytes,
        tmpfsBytes: { tmp: target.limits.tmpBytes, home: target.limits.homeBytes },
        onOutput: (stream, chunk) =>
          ctx.events({ type: 'output', target: target.name, stream, text: chunk.toString('utf8') }),
      })
      .catch((err: unknown) => {
        throw stepLimitError(ctx, target, i, err);
      });
    // A failed step's own failure wins over a failure to save its logs (a full disk, say).
    const saved = await saveLogs(ctx, run).catch((err: unknown) => {
      if (run.exitCode === 0) throw err;
      return err instanceof Error ? err : new Error(String(err));
    });
    if (!(saved instanceof Error)) logs.push({ step: i, ...saved });
    if (run.exitCode !== 0) {
      const excerpt = formatExcerpt(
        failureExcerpt(Buffer.concat([run.stdout, run.stderr]).toString('utf8')),
      );
      if (!(saved instanceof Error)) await recordStepLogs(ctx, target, logs, run.exitCode, i);
      throw new AirlockError<BuildErrorCode>(
        'STEP_FAILED',
        `target "${target.name}": step ${i + 1} of ${target.steps.length} (${command}) exited with status ${run.exitCode}${run.signal ? ` (${run.signal})` : ''}${excerpt ? `\n${excerpt}` : ' and printed nothing'}`,
        {
          hint: `Fix the step in ${ctx.project.file} (targets.${target.name}.steps[${i}]); ${saved instanceof Error ? `its full output could not be saved (${saved.message})` : `print its whole log with \`airlock log ${target.name} --step ${i + 1}\` (stdout blob ${saved.stdout}, stderr blob ${saved.stderr})`}. Remember the sandbox has no network and sees only declared sources.`,
          details: {
            target: target.name,
            step: i,
            exitCode: run.exitCode,
            signal: run.signal,
            ...(saved instanceof Error ? { logsNotSaved: saved.message } : saved),
          },
        },
      );
    }
  }
  await recordStepLogs(ctx, target, logs);
  return logs;
}

/** Remembers a run's log blobs for `airlock log` (the failed step last, when `failed` is given). */
export async function recordStepLogs(
  ctx: BuildContext,
  target: TargetConfig,
  logs: ActionResult['logs'],
  exitCode?: number,
  failed?: number,
): Promise<void> {
  await ctx.store.syncWritesAsync(); // the step logs name their blobs
  ctx.records.setStepLogs(ctx.project.root, target.name, {
    steps: logs.map((l) => ({
      ...l,
      command: target.steps[l.step] ?? '',
      ...(l.step === failed && exitCode !== undefined ? { exitCode } : {}),
    })),
    ...(failed !== undefined ? { failed } : {}),
  });
}

/** A step killed for running too long or printing too much, as an error naming the step and the key to raise; anything else unchanged. */
function stepLimitError(ctx: BuildContext, target: TargetConfig, i: number, err: unknown): unknown {
  const step = `target "${target.name}": step ${i + 1} of ${target.steps.length} (${target.steps[i]})`;
  const details = { target: target.name, step: i };
  if (isAirlockError(err, 'SANDBOX_TIMEOUT')) {
    return new AirlockError<BuildErrorCode>(
      'STEP_TIMEOUT',
      `${step} ran longer than its timeout of ${target.limits.timeoutSeconds} s; it was killed with everything it started`,
      {
        hint: `Make the step finish sooner, or raise targets.${target.name}.timeout in ${ctx.project.file} (e.g. timeout: 2h).`,
        details: { ...details, timeoutSeconds: target.limits.timeoutSeconds },
        cause: err,
      },
    );
  }
  if (isAirlockError(err, 'SANDBOX_OUTPUT_LIMIT')) {
    return new AirlockError<BuildErrorCode>(
      'STEP_LOG_LIMIT',
      `${step} printed more than ${target.limits.logBytes} bytes; it was killed`,
      {
        hint: `Print less (send verbose output to a file under /tmp), or raise targets.${target.name}.limits.log in ${ctx.project.file}.`,
        details: { ...details, logBytes: target.limits.logBytes },
        cause: err,
      },
    );
  }
  return err;
}

/** Stores a step's stdout and stderr; returns their digests. */
async function saveLogs(
  ctx: BuildContext,
  run: { stdout: Uint8Array; stderr: Uint8Array },
): Promise<{ stdout: Digest; stderr: Digest }> {
  const stdout = await ctx.store.putBytes(run.stdout);
  const stderr = await ctx.store.putBytes(run.stderr);
  return { stdout: stdout.digest, stderr: stderr.digest };
}
