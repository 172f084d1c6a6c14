import type { Command } from 'commander';
import { insecureRegistryOption, runReport } from '../run.js';

export function register(cli: Command): void {
  insecureRegistryOption(
    cli
      .command('copy')
      .description(
        'copy an artifact between a registry and an OCI layout directory (oci:path:tag), or between registries',
      )
      .argument('<from>', 'registry/repo[:tag|@digest] or oci:<dir>:<tag>')
      .argument('<to>', 'registry/repo[:tag] or oci:<dir>:<tag>'),
  )
    .option('--no-attachments', 'copy only the artifact')
    .addHelpText(
      'after',
      '\nExamples:\n  airlock copy ghcr.io/team/app:1.0 oci:./out:1.0\n  airlock copy oci:./out:1.0 registry.local:5000/app:1.0',
    )
    .action(
      async (
        from: string,
        to: string,
        opts: { insecureRegistry: string[]; attachments: boolean },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events }) => {
            const { runCopy } = await import('../../pipeline/registry-copy.js');
            return runCopy({
              from,
              to,
              store: global.store,
              insecure: opts.insecureRegistry,
              attachments: opts.attachments,
              events,
            });
          },
          (report) => `${report.digest}\t${report.from} -> ${report.to}\n`,
        ),
    );
}
