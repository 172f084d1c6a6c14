import type { Command } from 'commander';
import { AirlockError } from '../../core/errors.js';
import { runReport } from '../run.js';

export function register(cli: Command): void {
  cli
    .command('lineage')
    .description(
      'where an artifact or a deployment came from (signatures, keys, provenance, commit, lock entries, toolchain, dependencies), or what uses a package',
    )
    .argument('[subject]', 'an artifact digest (sha256:…) or an environment[/region]')
    .option(
      '--uses <package>',
      'list every artifact and deployment containing a package: a purl or name@version',
    )
    .option('--dot', 'print the graph in Graphviz DOT')
    .addHelpText(
      'after',
      '\nExamples:\n  airlock lineage sha256:9f86…\n  airlock lineage prod/eu-west\n  airlock lineage --uses ms@2.1.3\n  airlock lineage --uses pkg:npm/ms@2.1.3 --dot | dot -Tsvg > uses.svg\n',
    )
    .action(
      async (subject: string | undefined, opts: { uses?: string; dot?: boolean }, cmd: Command) => {
        if ((subject === undefined) === (opts.uses === undefined))
          throw new AirlockError(
            'USAGE',
            'give either a subject (digest or environment[/region]) or --uses <package>',
            {
              hint: 'e.g. `airlock lineage sha256:…` or `airlock lineage --uses ms@2.1.3`.',
            },
          );
        const { lineageDot, lineageText } = await import('../../audit/index.js');
        await runReport(
          cmd,
          async ({ global, events }) => {
            const { runLineage } = await import('../../pipeline/lineage.js');
            return runLineage({
              store: global.store,
              events,
              ...(subject !== undefined ? { subject } : {}),
              ...(opts.uses !== undefined ? { uses: opts.uses } : {}),
            });
          },
          (g) =>
            opts.dot
              ? lineageDot(g)
              : g.roots.length === 0
                ? `nothing contains ${opts.uses ?? subject ?? ''}\n`
                : lineageText(g),
        );
      },
    );
}
