import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { createRenderer, renderOptions } from '../render.js';

export function register(cli: Command): void {
  cli
    .command('why')
    .description(
      "explain a target's cache miss against its previous build: which component changed, down to the file",
    )
    .argument('<target>', 'the target to explain')
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .action(async (target: string, opts: { project: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const r = createRenderer(renderOptions(g));
      const { runWhy } = await import('../../pipeline/why.js');
      const report = await runWhy({
        project: opts.project,
        store: g.store,
        target,
        events: r.sink,
      });
      r.done();
      if (g.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
        return;
      }
      const out: string[] = [];
      if (report.verdict === 'hit')
        out.push(`${target}: cache hit (action ${report.key}); nothing would run.`);
      else if (report.verdict === 'no-record')
        out.push(
          `${target}: no previous build of this target in this store; it would build from scratch.`,
        );
      else if (report.verdict === 'evicted')
        out.push(
          `${target}: same action as the last build (${report.key}) but its cache entry is gone (gc or corruption); it would rebuild.`,
        );
      else
        out.push(
          `${target}: cache miss; ${report.changes.length} change(s) since the last build${report.previousKey ? ` (${report.previousKey})` : ''}:`,
        );
      for (const c of report.changes) {
        out.push(`  ${c.component}: ${c.detail}${c.path ? ` ${c.path}` : ''}`);
        if (c.old !== undefined) out.push(`      old: ${c.old}`);
        if (c.new !== undefined) out.push(`      new: ${c.new}`);
      }
      if (report.rebuiltDeps.length > 0)
        out.push(`  dependencies that would rebuild first: ${report.rebuiltDeps.join(', ')}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
