import type { Command } from 'commander';
import { insecureRegistryOption, runReport } from '../run.js';

export function register(cli: Command): void {
  insecureRegistryOption(
    cli
      .command('ls')
      .description("list a registry repository's tags, each resolved to its digest")
      .argument('<repository>', 'registry/repo')
      .option('--all', 'also show sha256-<hex> referrers fallback tags'),
  ).action(
    async (repository: string, opts: { all?: boolean; insecureRegistry: string[] }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, session }) => {
          const { runLs } = await import('../../pipeline/registry-ls.js');
          return runLs({
            env: session.io.env,
            repository,
            all: opts.all === true,
            store: global.store,
            insecure: opts.insecureRegistry,
            events,
          });
        },
        (report) => report.tags.map((t) => `${t.tag}\t${t.digest}\n`).join(''),
      ),
  );
}
