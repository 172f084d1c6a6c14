import type { Command } from 'commander';
import type { parseLayoutRef } from '../../registry/index.js';
import { insecureRegistryOption, runReport } from '../run.js';
import type { CliSession } from '../session.js';

/** A copy endpoint with the directory of an `oci:<dir>` taken from the run's working directory. */
function endpoint(text: string, session: CliSession, parse: typeof parseLayoutRef): string {
  if (!text.startsWith('oci:')) return text;
  const ref = parse(text);
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `oci:${session.path(ref.path)}${tag}${digest}`;
}

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
          async ({ global, events, session }) => {
            const { runCopy } = await import('../../pipeline/registry-copy.js');
            const { parseLayoutRef } = await import('../../registry/index.js');
            return runCopy({
              env: session.io.env,
              from: endpoint(from, session, parseLayoutRef),
              to: endpoint(to, session, parseLayoutRef),
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
