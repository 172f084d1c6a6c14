import type { Command } from 'commander';
import type { ReproReport } from '../../pipeline/repro.js';
import { runReport } from '../run.js';

export function register(cli: Command): void {
  cli
    .command('repro')
    .description(
      'build a target twice under varied conditions and prove its outputs are bit-for-bit equal, or show the difference',
    )
    .argument('<target>', 'the target to check')
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option('--no-diffoscope', 'use the built-in diff even when diffoscope is installed')
    .addHelpText(
      'after',
      '\nThe second build varies the host environment, the host path of the sources, the umask,\nthe clock (+3 days via libfaketime), the staging order and the hostname.\nExit status: 0 reproducible, 1 not reproducible or failed, 2 usage.',
    )
    .action(async (target: string, opts: { project: string; diffoscope: boolean }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, signal }) => {
          const { runRepro } = await import('../../pipeline/repro.js');
          return runRepro({
            project: opts.project,
            store: global.store,
            target,
            diffoscope: opts.diffoscope,
            events,
            signal,
          });
        },
        reproText,
        (report) => report.reproducible,
      ),
    );
}

function reproText(report: ReproReport): string {
  const out = [`varied: ${report.varied.join('; ')}`];
  if (report.reproducible) {
    out.push(
      `${report.target}: reproducible — both builds gave output tree ${report.a.outputTree} (layer ${report.a.layer})`,
    );
  } else {
    out.push(`${report.target}: NOT reproducible — ${report.differences.length} file(s) differ:`);
    for (const d of report.differences) {
      out.push(
        `  ${d.path}`,
        `    build A: ${d.a ?? '(absent)'}`,
        `    build B: ${d.b ?? '(absent)'}`,
      );
      if (d.diff)
        out.push(
          d.diff
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n'),
        );
    }
    out.push(
      'fix: make the steps depend only on their inputs and SOURCE_DATE_EPOCH (no wall clock, random values, host paths or unordered directory listings).',
    );
  }
  return `${out.join('\n')}\n`;
}
