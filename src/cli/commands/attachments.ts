import type { Command } from 'commander';
import { insecureRegistryOption, runReport } from '../run.js';

export function register(cli: Command): void {
  insecureRegistryOption(
    cli
      .command('attachments')
      .description(
        'list what is attached to an artifact in a registry (signatures, SBOMs, provenance)',
      )
      .argument('<ref>', 'registry/repo:tag or registry/repo@sha256:…')
      .option('--artifact-type <type>', 'only attachments of this artifactType'),
  ).action(
    async (
      ref: string,
      opts: { artifactType?: string; insecureRegistry: string[] },
      cmd: Command,
    ) =>
      runReport(
        cmd,
        async ({ global, events, session }) => {
          const { runAttachments } = await import('../../pipeline/registry-attachments.js');
          return runAttachments({
            env: session.io.env,
            ref,
            store: global.store,
            insecure: opts.insecureRegistry,
            events,
            ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
          });
        },
        (report) =>
          `${report.subject}\n` +
          report.attachments
            .map((a) => `  ${a.digest}\t${a.artifactType ?? '-'}\t${a.size}\n`)
            .join(''),
      ),
  );
}
