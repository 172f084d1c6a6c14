import type { Command } from 'commander';
import type { WhyReport } from '../../pipeline/why.js';
import { runReport } from '../run.js';

export function register(cli: Command): void {
  cli
    .command('why')
    .description(
      "explain a target's cache miss against its previous build: which component changed, down to the file",
    )
    .argument('<target>', 'the target to explain')
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option(
      '--against <digest|commit>',
      'compare with an earlier build: its artifact digest, action key or source commit',
    )
    .action(async (target: string, opts: { project: string; against?: string }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, session }) => {
          const { runWhy } = await import('../../pipeline/why.js');
          return runWhy({
            env: session.io.env,
            project: session.path(opts.project),
            store: global.store,
            target,
            events,
            ...(opts.against !== undefined ? { against: opts.against } : {}),
          });
        },
        whyText,
      ),
    );
}

function whyText(report: WhyReport): string {
  const t = report.target;
  const out: string[] = [];
  if (report.verdict === 'hit')
    out.push(
      report.origin
        ? `${t}: cache hit (action ${report.key}), ${report.origin.text}; nothing would run.`
        : `${t}: cache hit (action ${report.key}), built on this machine; nothing would run.`,
    );
  else if (report.verdict === 'no-record')
    out.push(`${t}: no previous build of this target in this store; it would build from scratch.`);
  else if (report.verdict === 'evicted')
    out.push(
      `${t}: same action as the last build (${report.key}) but its cache entry is gone (gc or corruption); it would rebuild.`,
    );
  else
    out.push(
      `${t}: cache miss; ${report.changes.length} change(s) since ${report.against !== undefined ? `the build ${report.against}` : 'the last build'}${report.previousKey ? ` (${report.previousKey})` : ''}:`,
    );
  for (const c of report.changes) {
    out.push(`  ${c.component}: ${c.detail}${c.path ? ` ${c.path}` : ''}`);
    if (c.old !== undefined) out.push(`      old: ${c.old}`);
    if (c.new !== undefined) out.push(`      new: ${c.new}`);
  }
  if (report.rebuiltDeps.length > 0)
    out.push(`  dependencies that would rebuild first: ${report.rebuiltDeps.join(', ')}`);
  return `${out.join('\n')}\n`;
}
