import type { Command } from 'commander';
import { globalOptions } from '../run.js';
import { sessionOf } from '../session.js';
import { createRenderer, renderOptions } from '../render.js';

export function register(cli: Command): void {
  cli
    .command('pin')
    .description(
      'rewrite mutable references (image tags, package.json ranges) to digests and exact versions, in place',
    )
    .argument('[path]', 'repository root', '.')
    .option('--dry-run', 'print a unified diff instead of writing')
    .option('--offline', 'resolve images from the local store only, never from their registries')
    .option(
      '--insecure-registry <host:port>',
      'reach this registry over plain http (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .addHelpText(
      'after',
      '\nImages resolve through the local store (--store), then through their registries (unless --offline);\npackage.json ranges resolve offline from the lockfile.\n',
    )
    .action(
      async (
        path: string,
        opts: { dryRun?: boolean; offline?: boolean; insecureRegistry?: string[] },
        cmd: Command,
      ) => {
        const g = globalOptions(cmd);
        const session = sessionOf(cmd);
        const out = session.io.stdout;
        const r = createRenderer(renderOptions(g, session.io), session.io.stderr);
        const { runPin, registryResolver } = await import('../../pipeline/pin.js');
        const result = await runPin({
          root: session.path(path),
          dryRun: opts.dryRun === true,
          ...(g.store ? { store: g.store } : {}),
          ...(opts.offline
            ? {}
            : {
                resolver: registryResolver({
                  insecure: opts.insecureRegistry ?? [],
                  events: r.sink,
                }),
              }),
          events: r.sink,
        });
        r.done();
        // Nothing pinned while references stayed unresolved (an offline machine,
        // an unknown registry) or lockfiles refused: the command did not do its job.
        const failed =
          result.files.length === 0 && (result.unresolved.length > 0 || result.refused.length > 0);
        if (failed) session.exitCode = 1;
        if (g.json) {
          out.write(`${JSON.stringify({ ok: !failed, ...result }, null, 2)}\n`);
          return;
        }
        if (result.dryRun) out.write(result.diff);
        const count = result.files.reduce((n, f) => n + f.changes.length, 0);
        out.write(
          `${result.dryRun ? 'would pin' : 'pinned'} ${count} reference(s) in ${result.files.length} file(s)\n`,
        );
        for (const u of result.unresolved)
          out.write(
            `  unresolved: ${u.path}: ${u.ref} (${u.reason?.startsWith('registry unreachable') ? `not in the store; ${u.reason}` : `not in the store${opts.offline ? '; run without --offline to ask its registry' : `; its registry: ${u.reason ?? 'not found'}`}`})\n`,
          );
        for (const f of result.refused) out.write(`  not pinned: ${f.path}: ${f.reason}\n`);
      },
    );
}
