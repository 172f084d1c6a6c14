import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { createRenderer, renderOptions } from '../render.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function register(cli: Command): void {
  cli
    .command('push')
    .description('push a local artifact and everything attached to it to an OCI registry')
    .argument('<local-ref>', 'tag or sha256 digest in the local store')
    .argument('<target>', 'registry/repo[:tag]')
    .option(
      '--insecure-registry <host:port>',
      'allow plain http to this registry (repeatable)',
      collect,
      [],
    )
    .option('--no-attachments', 'push only the artifact, not its signatures, SBOMs, provenance')
    .addHelpText('after', '\nExample:\n  airlock push app ghcr.io/team/app:1.0')
    .action(
      async (
        source: string,
        target: string,
        opts: { insecureRegistry: string[]; attachments: boolean },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const r = createRenderer(renderOptions(g));
        const { runPush } = await import('../../pipeline/registry-push.js');
        try {
          const report = await runPush({
            source,
            target,
            store: g.store,
            insecure: opts.insecureRegistry,
            attachments: opts.attachments,
            events: r.sink,
          });
          r.done();
          if (g.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
          else {
            process.stdout.write(`${report.reference}\n`);
            process.stderr.write(
              `blobs: ${report.blobs.transferred} uploaded, ${report.blobs.skipped} already present (${report.uploadedBytes} bytes sent); ${report.attachments.length} attachment(s)\n`,
            );
          }
        } finally {
          r.done();
        }
      },
    );
}
