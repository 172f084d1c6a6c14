import type { Command } from 'commander';
import { insecureRegistryOption, runReport } from '../run.js';

export function register(cli: Command): void {
  const lock = cli
    .command('lock')
    .description(
      'pin every external input (npm packages of the package-locks, files:, images) by hash in airlock.lock',
    )
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option(
      '--check',
      'only compare: fail listing every difference, write nothing, download nothing',
    );
  insecureRegistryOption(lock)
    .addHelpText(
      'after',
      '\nImage tags resolve through their registries as `airlock pin` does; a files: entry without sha256 is downloaded once to hash it.\n',
    )
    .action(
      async (
        opts: { project: string; check?: boolean; insecureRegistry: string[] },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ events, session }) => {
            const { loadConfig } = await import('../../config/load.js');
            const { runLock, registryPlatformResolver } = await import('../../pipeline/lock.js');
            const { registryResolver } = await import('../../pipeline/pin.js');
            return runLock({
              project: await loadConfig(session.path(opts.project)),
              check: opts.check === true,
              resolver: registryResolver({ insecure: opts.insecureRegistry, events }),
              platformOf: registryPlatformResolver({ insecure: opts.insecureRegistry, events }),
              events,
            });
          },
          (r) =>
            `${r.differences.map((d) => `  ${d.kind} ${d.name}: ${d.change}${d.old ? ` (was ${d.old})` : ''}${d.new ? ` (now ${d.new})` : ''}\n`).join('')}${
              opts.check === true
                ? 'airlock.lock is up to date'
                : r.written
                  ? `wrote ${r.file}`
                  : 'airlock.lock unchanged'
            }: ${r.counts.npm} npm package(s), ${r.counts.files} file(s), ${r.counts.images} image(s)\n`,
        ),
    );
}
