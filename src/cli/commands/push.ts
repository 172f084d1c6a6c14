import type { Command } from 'commander';
import { insecureRegistryOption, runReport } from '../run.js';
import { sessionOf } from '../session.js';

export function register(cli: Command): void {
  insecureRegistryOption(
    cli
      .command('push')
      .description('push a local artifact and everything attached to it to an OCI registry')
      .argument('<local-ref>', 'tag or sha256 digest in the local store')
      .argument('<target>', 'registry/repo[:tag]'),
  )
    .option('--no-attachments', 'push only the artifact, not its signatures, SBOMs, provenance')
    .addHelpText('after', '\nExample:\n  airlock push app ghcr.io/team/app:1.0')
    .action(
      async (
        source: string,
        target: string,
        opts: { insecureRegistry: string[]; attachments: boolean },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events, session }) => {
            const { runPush } = await import('../../pipeline/registry-push.js');
            return runPush({
              env: session.io.env,
              source,
              target,
              store: global.store,
              insecure: opts.insecureRegistry,
              attachments: opts.attachments,
              events,
            });
          },
          (report) => {
            sessionOf(cmd).io.stderr.write(
              `blobs: ${report.blobs.transferred} uploaded, ${report.blobs.skipped} already present (${report.uploadedBytes} bytes sent); ${report.attachments.length} attachment(s)\n`,
            );
            return `${report.reference}\n`;
          },
        ),
    );
}
