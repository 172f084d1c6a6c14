import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { createRenderer, renderOptions } from '../render.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function register(cli: Command): void {
  cli
    .command('copy')
    .description(
      'copy an artifact between a registry and an OCI layout directory (oci:path:tag), or between registries',
    )
    .argument('<from>', 'registry/repo[:tag|@digest] or oci:<dir>:<tag>')
    .argument('<to>', 'registry/repo[:tag] or oci:<dir>:<tag>')
    .option(
      '--insecure-registry <host:port>',
      'allow plain http to this registry (repeatable)',
      collect,
      [],
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
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const r = createRenderer(renderOptions(g));
        const { runCopy } = await import('../../pipeline/registry-copy.js');
        try {
          const report = await runCopy({
            from,
            to,
            store: g.store,
            insecure: opts.insecureRegistry,
            attachments: opts.attachments,
            events: r.sink,
          });
          r.done();
          if (g.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
          else process.stdout.write(`${report.digest}\t${report.from} -> ${report.to}\n`);
        } finally {
          r.done();
        }
      },
    );
}
