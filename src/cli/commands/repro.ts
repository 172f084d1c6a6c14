import type { Command } from 'commander';
import type { ReproReport } from '../../pipeline/repro.js';
import { auditEnvOf, runReport } from '../run.js';

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
      '\nThe second build varies the host environment, the host path of the sources, the umask,\nthe clock (+3 days via libfaketime), the staging order and the hostname.\nBuild A is also compared with what the action caches (local, and remote when configured)\nhold for the same action key; a mismatch fails the command.\nExit status: 0 reproducible, 1 not reproducible, cache mismatch or failed, 2 usage.',
    )
    .action(async (target: string, opts: { project: string; diffoscope: boolean }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, signal, session }) => {
          const { runRepro } = await import('../../pipeline/repro.js');
          return runRepro({
            env: session.io.env,
            project: session.path(opts.project),
            store: global.store,
            target,
            diffoscope: opts.diffoscope,
            audit: auditEnvOf(session),
            events,
            signal,
          });
        },
        reproText,
        (report) => report.reproducible && report.cacheMatches,
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
  for (const c of report.cache) {
    if (c.matches) {
      out.push(`${c.source} action cache: same output tree${c.origin ? ` (${c.origin})` : ''}`);
      continue;
    }
    out.push(
      `CACHE MISMATCH: the ${c.source} action cache holds output tree ${c.outputTree} for this action${c.origin ? ` (${c.origin})` : ''}, but building it gives ${report.a.outputTree}.`,
      `  The cache entry was not made from these inputs (a poisoned entry), or the build is not reproducible.${c.dropped ? ' The local entry was dropped; the next build rebuilds.' : ''}`,
    );
  }
  return `${out.join('\n')}\n`;
}
