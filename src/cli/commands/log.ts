import type { Command } from 'commander';
import { AirlockError } from '../../core/errors.js';
import type { LogReport } from '../../pipeline/log.js';
import { runReport } from '../run.js';

export function register(cli: Command): void {
  cli
    .command('log')
    .description("print the whole output of a target's last run (the failed step by default)")
    .argument('<target>', 'the target whose log to print')
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option('--step <n>', 'the step to print (1-based, as in the build error)')
    .addHelpText('after', '\nExamples:\n  airlock log app\n  airlock log app --step 2\n')
    .action(async (target: string, opts: { project: string; step?: string }, cmd: Command) => {
      let step: number | undefined;
      if (opts.step !== undefined) {
        step = Number(opts.step);
        if (!Number.isInteger(step) || step < 1)
          throw new AirlockError(
            'USAGE',
            `--step must be a step number (1, 2, …), not ${opts.step}`,
            {
              hint: 'Pass the step number the build error names, e.g. --step 2.',
            },
          );
      }
      await runReport(
        cmd,
        async ({ global, events, session }) => {
          const { runLog } = await import('../../pipeline/log.js');
          return runLog({
            project: session.path(opts.project),
            store: global.store,
            target,
            ...(step !== undefined ? { step } : {}),
            events,
          });
        },
        logText,
      );
    });
}

function logText(report: LogReport): string {
  const out: string[] = [];
  for (const s of report.steps) {
    out.push(
      `== ${report.target}: step ${s.step} (${s.command})${s.exitCode !== undefined ? ` exited with status ${s.exitCode}` : ''} ==`,
    );
    out.push('--- stdout ---', s.stdout.trimEnd(), '--- stderr ---', s.stderr.trimEnd());
  }
  return `${out.join('\n')}\n`;
}
