import { InvalidArgumentError, type Command } from 'commander';
import { AirlockError } from '../../core/errors.js';
import type { BuildReport } from '../../pipeline/build.js';
import { stampKey } from '../../pipeline/build-stamp.js';
import { auditEnvOf, insecureRegistryOption, reportText, runReport } from '../run.js';
import { signingPassword } from './keygen.js';

export function register(cli: Command): void {
  const build = cli
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
    .option('--sign', "sign each target's provenance and SBOMs after the build (needs --key)")
    .option('--key <file>', 'cosign-format private key for --sign')
    .option('--builder-id <uri>', 'runDetails.builder.id of the provenance with --sign')
    .option(
      '--frozen',
      'fail when airlock.lock differs from airlock.yaml and the package-locks (default when CI is set)',
    )
    .option('--no-frozen', 'update airlock.lock from local files even when CI is set')
    .option('--fetch', 'download missing locked inputs first, as `airlock fetch` does')
    .option(
      '--no-daemon',
      'build in this process, without the build daemon (which `build` starts on demand unless AIRLOCK_DAEMON=0 or CI is set)',
    )
    .option(
      '--remote-cache <registry/repo>',
      'use this registry repository as remote action cache (wins over cache.remote.repository; mode and trust still come from cache.remote)',
    );
  insecureRegistryOption(build)
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
          sign?: boolean;
          key?: string;
          builderId?: string;
          frozen?: boolean;
          fetch?: boolean;
        },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events, signal, session }) => {
            if (opts.sign && !opts.key)
              throw new AirlockError<'USAGE'>('USAGE', '--sign needs --key <cosign.key>', {
                hint: 'Give the private key written by `airlock keygen`.',
              });
            const sign =
              opts.sign && opts.key
                ? {
                    key: session.path(opts.key),
                    password: await signingPassword(session.io),
                    builderId: opts.builderId,
                  }
                : undefined;
            const { runBuild } = await import('../../pipeline/build.js');
            const project = session.path(opts.project);
            // Inside the build daemon: what its watcher knows unchanged since the last build.
            const fsHint = await session.io.buildHint?.(project);
            // A build stamp lets the next identical run skip a no-op (bin/airlock.js, and the daemon).
            const stamp =
              session.argv !== undefined && !sign && global.verbose !== true
                ? {
                    key: stampKey(session.argv, session.io.cwd, session.io.env),
                    stdout: (r: BuildReport) => reportText(global, r, buildText),
                    render: { json: global.json === true, color: global.color !== false },
                  }
                : undefined;
            try {
              return await runBuild({
                env: session.io.env,
                ...(sign ? { sign } : {}),
                project,
                store: global.store,
                targets,
                noCache: !opts.cache,
                ...(opts.jobs ? { jobs: opts.jobs } : {}),
                remoteCache: opts.remoteCache,
                insecure: opts.insecureRegistry,
                frozen:
                  opts.frozen ??
                  (session.io.env['CI'] !== undefined && session.io.env['CI'] !== ''),
                fetch: opts.fetch === true,
                audit: auditEnvOf(session),
                events,
                signal,
                fsHint,
                stamp,
              });
            } finally {
              fsHint?.done();
            }
          },
          buildText,
        ),
    );
}

/** The text report of a build: one line per target. */
function buildText(report: BuildReport): string {
  return report.targets
    .map(
      (t) =>
        `${t.name}\t${t.cached ? 'cached' : 'built'}\t${t.artifact}\t${t.tag}${t.remote ? `\t${t.remote.text}` : ''}\n`,
    )
    .join('');
}
