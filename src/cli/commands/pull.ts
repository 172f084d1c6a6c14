import type { Command } from 'commander';
import { insecureRegistryOption, runReport } from '../run.js';
import { sessionOf } from '../session.js';

export function register(cli: Command): void {
  insecureRegistryOption(
    cli
      .command('pull')
      .description('pull an artifact and its attachments into the local store, every byte verified')
      .argument('<ref>', 'registry/repo:tag or registry/repo@sha256:…')
      .option('--tag <name>', 'local tag to set (default: the reference itself when it has a tag)'),
  )
    .option('--no-attachments', 'pull only the artifact')
    .action(
      async (
        ref: string,
        opts: { tag?: string; insecureRegistry: string[]; attachments: boolean },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events, session }) => {
            const { runPull } = await import('../../pipeline/registry-pull.js');
            return runPull({
              env: session.io.env,
              ref,
              store: global.store,
              insecure: opts.insecureRegistry,
              attachments: opts.attachments,
              events,
              ...(opts.tag ? { tag: opts.tag } : {}),
            });
          },
          (report) => {
            sessionOf(cmd).io.stderr.write(
              `blobs: ${report.blobs.transferred} downloaded, ${report.blobs.skipped} already stored; ${report.attachments.length} attachment(s)${report.localTag ? `; tagged ${report.localTag}` : ''}\n`,
            );
            return `${report.reference}\n`;
          },
        ),
    );
}
