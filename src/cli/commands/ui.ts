import { InvalidArgumentError, type Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { createRenderer, renderOptions } from '../render.js';
import { auditEnvOf } from '../run.js';
import { sessionOf } from '../session.js';

export function register(cli: Command): void {
  cli
    .command('ui')
    .description(
      'serve the local web dashboard (targets, builds, artifacts and their evidence) until Ctrl-C',
    )
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .option(
      '--host <address>',
      'interface to listen on (anything but loopback is reachable by others)',
      '127.0.0.1',
    )
    .option('--port <n>', 'port to listen on (default: any free port)', port, 0)
    .option('--policy <file>', 'verify each artifact shown against this policy')
    .option(
      '--allow-actions',
      'allow actions that change something (rollback, with confirmation); read-only without it',
    )
    .action(
      async (
        opts: {
          project: string;
          host: string;
          port: number;
          policy?: string;
          allowActions?: boolean;
        },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const session = sessionOf(cmd);
        const out = session.io.stdout;
        const renderer = createRenderer(renderOptions(g, session.io), session.io.stderr);
        const { startDashboard } = await import('../../ui/index.js');
        const project = session.path(opts.project);
        const dashboard = await startDashboard({
          project,
          store: g.store,
          // Rollback goes through the deploy use-case, recorded in the audit log as by the dashboard.
          actions: {
            rollback: async (req) => {
              const { dashboardRollback } = await import('../../pipeline/dashboard-audit.js');
              return dashboardRollback({
                project,
                store: g.store,
                environment: req.environment,
                region: req.region,
                reason: req.reason,
                via: req.actor,
                signing: auditEnvOf(session).signing,
                events: renderer.sink,
              });
            },
          },
          host: opts.host,
          port: opts.port,
          allowActions: opts.allowActions === true,
          events: renderer.sink,
          ...(opts.policy !== undefined ? { policy: session.path(opts.policy) } : {}),
        });
        const loopback = ['127.0.0.1', '::1', 'localhost'].includes(opts.host);
        if (g.json)
          out.write(
            `${JSON.stringify({ ok: true, url: dashboard.url, origin: dashboard.origin, readOnly: opts.allowActions !== true })}\n`,
          );
        else
          out.write(
            `Airlock dashboard (${opts.allowActions ? 'actions allowed' : 'read-only'}) at\n  ${dashboard.url}\n` +
              `The token in that address is required; anyone who has it can read the dashboard. Ctrl-C stops it.\n` +
              (loopback
                ? ''
                : `warning: listening on ${opts.host}, not loopback: other machines can reach it.\n`),
          );
        // Ctrl-C (or the run's own stop signal) ends it.
        session.io.watchInterrupts?.();
        const stop = session.io.signal;
        if (!stop.aborted)
          await new Promise<void>((done) =>
            stop.addEventListener('abort', () => done(), { once: true }),
          );
        await dashboard.close();
        renderer.done();
      },
    );
}

/** A TCP port number, 0 for any free port. */
function port(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`"${value}" is not a port; give a number from 0 to 65535.`);
  return n;
}
