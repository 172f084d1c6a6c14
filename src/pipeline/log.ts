import type { BuildErrorCode } from '../builder/errors.js';
import { planOrder } from '../config/plan.js';
import type { Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import { openWorkspace, type Workspace } from './context.js';

/** What `airlock log` is asked for. */
export interface LogRequest extends Workspace {
  target: string;
  /** 1-based step number; default: the failed step, or every step of a run that passed. */
  step?: number;
}

/** One step's whole output, read back from the store (verified). */
export interface StepLog {
  /** 1-based. */
  step: number;
  command: string;
  exitCode?: number;
  stdout: string;
  stderr: string;
  blobs: { stdout: Digest; stderr: Digest };
}

export interface LogReport {
  target: string;
  /** True when the last run of the target failed. */
  failed: boolean;
  steps: StepLog[];
}

/**
 * `airlock log TARGET [--step N]`: the whole stdout and stderr of a target's
 * last run in this store (the failed step by default), read from its log
 * blobs, each verified against its digest.
 */
export async function runLog(req: LogRequest): Promise<LogReport> {
  const open = await openWorkspace(req);
  try {
    planOrder(open.project, [req.target]);
    const recorded = open.records.stepLogs(open.project.root, req.target);
    if (!recorded || recorded.steps.length === 0) {
      throw new AirlockError<BuildErrorCode>(
        'NO_STEP_LOGS',
        `target "${req.target}" has no recorded run in this store`,
        {
          hint: `Run \`airlock build ${req.target}\` first; its logs are kept until \`airlock store gc\`.`,
          details: { target: req.target },
        },
      );
    }
    const wanted =
      req.step !== undefined
        ? recorded.steps.filter((s) => s.step === req.step! - 1)
        : recorded.failed !== undefined
          ? recorded.steps.filter((s) => s.step === recorded.failed)
          : recorded.steps;
    if (wanted.length === 0) {
      throw new AirlockError<BuildErrorCode>(
        'NO_STEP_LOGS',
        `target "${req.target}": its last run has no log for step ${req.step}`,
        {
          hint: `Pass a step it ran: ${recorded.steps.map((s) => s.step + 1).join(', ')}.`,
          details: { target: req.target, step: req.step },
        },
      );
    }
    const steps: StepLog[] = [];
    for (const s of wanted) {
      steps.push({
        step: s.step + 1,
        command: s.command,
        ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
        stdout: (await open.store.getBytes(s.stdout)).toString('utf8'),
        stderr: (await open.store.getBytes(s.stderr)).toString('utf8'),
        blobs: { stdout: s.stdout, stderr: s.stderr },
      });
    }
    return { target: req.target, failed: recorded.failed !== undefined, steps };
  } finally {
    open.close();
  }
}
