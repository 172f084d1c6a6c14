import { InvalidArgumentError, type Command } from 'commander';
import { insecureRegistryOption, runReport } from '../run.js';

export function register(cli: Command): void {
  const fetch = cli
    .command('fetch')
    .description(
      'download every input airlock.lock records into the store, verified: the only command that downloads inputs',
    )
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option('-j, --jobs <n>', 'downloads at once (default 8)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError('expected a whole number ≥ 1');
      return n;
    });
  insecureRegistryOption(fetch).action(
    async (opts: { project: string; jobs?: number; insecureRegistry: string[] }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, signal, session }) => {
          const { loadConfig } = await import('../../config/load.js');
          const { runFetch } = await import('../../pipeline/fetch.js');
          return runFetch({
            registry: { env: session.io.env },
            project: await loadConfig(session.path(opts.project)),
            ...(global.store ? { store: global.store } : {}),
            ...(opts.jobs ? { concurrency: opts.jobs } : {}),
            insecure: opts.insecureRegistry,
            download: { signal },
            events,
          });
        },
        (r) =>
          `fetched ${r.downloaded.count} input(s), ${r.downloaded.bytes} bytes; ${r.present} already in the store; ${r.images} image(s)${r.lockUpdated ? '; recorded tarball sha256s in airlock.lock' : ''}\n`,
      ),
  );
}
