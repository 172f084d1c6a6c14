import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { createRenderer, renderOptions } from '../render.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function register(cli: Command): void {
  cli
    .command('pull')
    .description('pull an artifact and its attachments into the local store, every byte verified')
    .argument('<ref>', 'registry/repo:tag or registry/repo@sha256:…')
    .option('--tag <name>', 'local tag to set (default: the reference itself when it has a tag)')
    .option(
      '--insecure-registry <host:port>',
      'allow plain http to this registry (repeatable)',
      collect,
      [],
    )
    .option('--no-attachments', 'pull only the artifact')
    .action(
      async (
        ref: string,
        opts: { tag?: string; insecureRegistry: string[]; attachments: boolean },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const r = createRenderer(renderOptions(g));
        const { runPull } = await import('../../pipeline/registry-pull.js');
        try {
          const report = await runPull({
            ref,
            store: g.store,
            insecure: opts.insecureRegistry,
            attachments: opts.attachments,
            events: r.sink,
            ...(opts.tag ? { tag: opts.tag } : {}),
          });
          r.done();
          if (g.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
          else {
            process.stdout.write(`${report.reference}\n`);
            process.stderr.write(
              `blobs: ${report.blobs.transferred} downloaded, ${report.blobs.skipped} already stored; ${report.attachments.length} attachment(s)${report.localTag ? `; tagged ${report.localTag}` : ''}\n`,
            );
          }
        } finally {
          r.done();
        }
      },
    );
}
