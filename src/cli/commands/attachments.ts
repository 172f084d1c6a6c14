import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { createRenderer, renderOptions } from '../render.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function register(cli: Command): void {
  cli
    .command('attachments')
    .description(
      'list what is attached to an artifact in a registry (signatures, SBOMs, provenance)',
    )
    .argument('<ref>', 'registry/repo:tag or registry/repo@sha256:…')
    .option('--artifact-type <type>', 'only attachments of this artifactType')
    .option(
      '--insecure-registry <host:port>',
      'allow plain http to this registry (repeatable)',
      collect,
      [],
    )
    .action(
      async (
        ref: string,
        opts: { artifactType?: string; insecureRegistry: string[] },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const r = createRenderer(renderOptions(g));
        const { runAttachments } = await import('../../pipeline/registry-attachments.js');
        try {
          const report = await runAttachments({
            ref,
            store: g.store,
            insecure: opts.insecureRegistry,
            events: r.sink,
            ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
          });
          r.done();
          if (g.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
          else {
            process.stdout.write(`${report.subject}\n`);
            for (const a of report.attachments)
              process.stdout.write(`  ${a.digest}\t${a.artifactType ?? '-'}\t${a.size}\n`);
          }
        } finally {
          r.done();
        }
      },
    );
}
