import { InvalidArgumentError, type Command } from 'commander';
import { runReport } from '../run.js';

export function register(cli: Command): void {
  cli
    .command('sbom')
    .description('print the SBOM of the last build of a target (CycloneDX 1.6 or SPDX 2.3 JSON)')
    .argument('<target>', 'the target')
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option(
      '--format <format>',
      'cyclonedx or spdx',
      (v) => {
        if (v !== 'cyclonedx' && v !== 'spdx')
          throw new InvalidArgumentError('expected cyclonedx or spdx');
        return v;
      },
      'cyclonedx',
    )
    .action(
      async (
        target: string,
        opts: { project: string; format: 'cyclonedx' | 'spdx' },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events, session }) => {
            const { runSbom } = await import('../../pipeline/evidence.js');
            return runSbom({
              project: session.path(opts.project),
              store: global.store,
              events,
              target,
              format: opts.format,
            });
          },
          (r) => r.sbom,
        ),
    );
}
