import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { createRenderer, renderOptions } from '../render.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function register(cli: Command): void {
  cli
    .command('ls')
    .description("list a registry repository's tags, each resolved to its digest")
    .argument('<repository>', 'registry/repo')
    .option('--all', 'also show sha256-<hex> referrers fallback tags')
    .option(
      '--insecure-registry <host:port>',
      'allow plain http to this registry (repeatable)',
      collect,
      [],
    )
    .action(
      async (
        repository: string,
        opts: { all?: boolean; insecureRegistry: string[] },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const r = createRenderer(renderOptions(g));
        const { runLs } = await import('../../pipeline/registry-ls.js');
        try {
          const report = await runLs({
            repository,
            all: opts.all === true,
            store: g.store,
            insecure: opts.insecureRegistry,
            events: r.sink,
          });
          r.done();
          if (g.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
          else for (const t of report.tags) process.stdout.write(`${t.tag}\t${t.digest}\n`);
        } finally {
          r.done();
        }
      },
    );
}
