import { InvalidArgumentError, type Command } from 'commander';
import { createRenderer, renderOptions } from '../render.js';
import type { GlobalOptions } from '../main.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function register(cli: Command): void {
  cli
    .command('build')
    .description(
      'build targets in the sandbox, offline, from declared inputs only; cached by input hash',
    )
    .argument('[target...]', 'targets to build with their dependencies (default: all)')
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option('--no-cache', 'ignore the action cache (outputs are still stored)')
    .option('-j, --jobs <n>', 'targets built at once (default: twice the number of cores)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError('expected a whole number ≥ 1');
      return n;
    })
    .option(
      '--remote-cache <registry/repo>',
      'share the action cache through this registry repository (wins over cache.remote)',
    )
    .option(
      '--insecure-registry <host:port>',
      'allow plain http to this registry (repeatable)',
      collect,
      [],
    )
    .addHelpText(
      'after',
      '\nExamples:\n  airlock build                 build every target\n  airlock build web --json      build "web" and its deps, print a JSON report',
    )
    .action(
      async (
        targets: string[],
        opts: {
          project: string;
          cache: boolean;
          jobs?: number;
          remoteCache?: string;
          insecureRegistry: string[];
        },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const r = createRenderer(renderOptions(g));
        const { runBuild } = await import('../../pipeline/build.js');
        try {
          const report = await runBuild({
            project: opts.project,
            store: g.store,
            targets,
            noCache: !opts.cache,
            ...(opts.jobs ? { jobs: opts.jobs } : {}),
            remoteCache: opts.remoteCache,
            insecure: opts.insecureRegistry,
            events: r.sink,
          });
          r.done();
          if (g.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
          else {
            for (const t of report.targets) {
              process.stdout.write(
                `${t.name}\t${t.cached ? 'cached' : 'built'}\t${t.artifact}\t${t.tag}\n`,
              );
            }
          }
        } finally {
          r.done();
        }
      },
    );
}
