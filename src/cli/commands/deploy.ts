import type { Command } from 'commander';
import type { DeployEvent } from '../../deploy/index.js';
import { AirlockError } from '../../core/errors.js';
import type { CliErrorCode } from '../errors.js';
import { auditEnvOf, globalOptions, insecureRegistryOption, runReport } from '../run.js';
import { sessionOf } from '../session.js';
import { sanitizeForTerminal } from '../terminal.js';

/** One line per deploy event: the step, the weights, and each gate's value against its threshold. */
export function describeDeployEvent(e: DeployEvent): string {
  switch (e.kind) {
    case 'deploy.verified':
      return e.pass
        ? `verified ${e.artifact} against the policy (${e.rules.length} rules passed)`
        : `REFUSED ${e.artifact}: ${e.rules
            .filter((r) => !r.pass)
            .map((r) => `${r.rule}: ${r.reason}`)
            .join('; ')}`;
    case 'deploy.pushed':
      return `[${e.region}] pushed to ${e.repository}: it serves ${e.served} (${e.blobs.transferred} blobs sent, ${e.blobs.skipped} already there)`;
    case 'deploy.started':
      return `[${e.region}] new version ready in ${e.container} on port ${e.port}`;
    case 'deploy.step':
      return `[${e.region}] step ${e.step + 1}/${e.steps}: new ${e.weights.canary}% / stable ${e.weights.stable}%`;
    case 'deploy.gate': {
      const s = e.sample;
      const limit = [
        s.threshold.max === undefined ? '' : `max ${s.threshold.max}`,
        s.threshold.min === undefined ? '' : `min ${s.threshold.min}`,
      ]
        .filter((x) => x !== '')
        .join(', ');
      return `[${s.region}]   gate ${s.gate}: ${s.value ?? 'no data'} (${limit}; ${s.requests ?? '?'} requests, min ${s.threshold.minRequests}) ${s.verdict.toUpperCase()}${s.verdict === 'pass' ? '' : `: ${s.detail}`}`;
    }
    case 'deploy.promoted':
      return `[${e.region}] promoted ${e.digest}${e.previous ? ` (previous ${e.previous} kept idle for rollback)` : ''}`;
    case 'deploy.paused':
      return `[${e.region}] PAUSED: ${e.reason}; continue with \`airlock deploy --resume --env ${e.environment}\` or \`--abort\``;
    case 'deploy.rollback':
      return `[${e.region}] ROLLED BACK to ${e.to ?? 'nothing'} in ${e.ms} ms: ${e.reason}`;
    case 'deploy.done':
      return `${e.environment}: ${e.outcome}${e.reason ? ` (${e.reason})` : ''}`;
    case 'deploy.drift':
      return `[${e.region}] DRIFT (${e.what}): ${e.detail}`;
  }
}

/** Collects deploy events for --json, or prints them as they come (stderr) on a terminal or in CI. */
function eventSink(
  json: boolean | undefined,
  stderr: { write(text: string): unknown },
): { sink: (e: DeployEvent) => void; events: DeployEvent[] } {
  const events: DeployEvent[] = [];
  return {
    events,
    sink: (e) => {
      events.push(e);
      if (!json) stderr.write(sanitizeForTerminal(`${describeDeployEvent(e)}\n`));
    },
  };
}

export function register(cli: Command): void {
  insecureRegistryOption(
    cli
      .command('deploy')
      .description(
        'verify an artifact against the environment policy, push it by digest to every region, and roll it out step by step behind metric gates',
      )
      .argument('[artifact]', 'a store tag (project/target) or manifest digest')
      .requiredOption('--env <name>', 'environment declared under environments: in airlock.yaml')
      .option('-C, --project <dir>', 'project directory', '.')
      .option('--resume', 'continue a paused rollout (its gates are read again)')
      .option('--abort', 'roll back a paused or interrupted rollout')
      .option('--emit <format>', 'write the rollout as manifests instead of running it: kubernetes')
      .option('--out <dir>', 'with --emit: directory to write the manifests to', 'deploy-manifests')
      .addHelpText(
        'after',
        '\nExits 0 when the rollout is promoted in every region; 1 when it was refused, rolled back or paused.\nA gate with no data, NaN, a query error or Prometheus unreachable never passes.',
      ),
  ).action(
    async (
      artifact: string | undefined,
      opts: {
        env: string;
        project: string;
        resume?: boolean;
        abort?: boolean;
        emit?: string;
        out: string;
        insecureRegistry: string[];
      },
      cmd: Command,
    ) => {
      if (opts.emit !== undefined) {
        await runReport(
          cmd,
          async ({ global, events, session }) => {
            const { runEmit } = await import('../../pipeline/deploy-emit.js');
            return runEmit({
              project: session.path(opts.project),
              environment: opts.env,
              artifact: artifact ?? '',
              format: opts.emit!,
              out: session.path(opts.out),
              store: global.store,
              events,
            });
          },
          (r) => r.files.map((f) => `wrote ${f}\n`).join(''),
        );
        return;
      }
      await runReport(
        cmd,
        async ({ global, events, session }) => {
          const collected = eventSink(global.json, session.io.stderr);
          const { runDeploy } = await import('../../pipeline/deploy.js');
          const report = await runDeploy({
            project: session.path(opts.project),
            environment: opts.env,
            artifact,
            resume: opts.resume,
            abort: opts.abort,
            audit: auditEnvOf(session),
            store: global.store,
            insecure: opts.insecureRegistry,
            events,
            onEvent: collected.sink,
          });
          return { ...report, events: collected.events };
        },
        (r) =>
          `${r.outcome.toUpperCase()} ${r.rollout.artifact} in ${r.environment} (rollout ${r.rollout.id})${r.rollout.reason && r.outcome !== 'promoted' ? `: ${r.rollout.reason}` : ''}\n`,
        (r) => r.outcome === 'promoted',
      );
    },
  );

  insecureRegistryOption(
    cli
      .command('rollback')
      .description(
        'send every request of an environment (or one region) back to the previous verified version: weights first, then cleanup',
      )
      .requiredOption('--env <name>', 'environment declared in airlock.yaml')
      .option('--region <name>', 'only this region')
      .option('-C, --project <dir>', 'project directory', '.'),
  ).action(
    async (
      opts: { env: string; region?: string; project: string; insecureRegistry: string[] },
      cmd: Command,
    ) => {
      await runReport(
        cmd,
        async ({ global, events, session }) => {
          const collected = eventSink(global.json, session.io.stderr);
          const { runRollback } = await import('../../pipeline/deploy.js');
          const report = await runRollback({
            project: session.path(opts.project),
            environment: opts.env,
            region: opts.region,
            audit: auditEnvOf(session),
            store: global.store,
            insecure: opts.insecureRegistry,
            events,
            onEvent: collected.sink,
          });
          return { ...report, events: collected.events };
        },
        (r) => `ROLLED BACK ${r.environment} (rollout ${r.rollout.id})\n`,
        (r) => r.outcome === 'rolled-back',
      );
    },
  );

  insecureRegistryOption(
    cli
      .command('status')
      .description(
        'for every region: the digest its registry serves, the digest each container runs (from the runtime), the router weights, and drift from the last verified digest',
      )
      .requiredOption('--env <name>', 'environment declared in airlock.yaml')
      .option('-C, --project <dir>', 'project directory', '.')
      .option('--watch [seconds]', 'redraw every N seconds (default 2) until Ctrl-C')
      .addHelpText('after', '\nExits 1 when any region drifted.'),
  ).action(
    async (
      opts: { env: string; project: string; watch?: boolean | string; insecureRegistry: string[] },
      cmd: Command,
    ) => {
      const once = (): Promise<void> =>
        runReport(
          cmd,
          async ({ global, events, session }) => {
            const { runStatus } = await import('../../pipeline/deploy.js');
            return runStatus({
              project: session.path(opts.project),
              environment: opts.env,
              store: global.store,
              insecure: opts.insecureRegistry,
              events,
            });
          },
          (r) =>
            [
              `${r.environment}${r.rollout ? `: rollout ${r.rollout.id} ${r.rollout.phase}${r.rollout.region ? ` in ${r.rollout.region} step ${(r.rollout.step ?? 0) + 1}` : ''}` : ''}`,
              ...r.regions.map(
                (g) =>
                  `  ${g.region}: verified ${g.verified ?? '-'}\n    registry ${g.registry ?? '-'}\n` +
                  g.containers
                    .map(
                      (c) =>
                        `    container ${c.name} ${c.running ? 'running' : 'stopped'} ${c.digest}\n`,
                    )
                    .join('') +
                  `    router ${g.router.map((x) => `${x.slot}=${x.weight}@${x.port}`).join(' ')}`,
              ),
              ...r.drift.map((d) => `DRIFT [${d.region}] ${d.what}: ${d.detail}`),
              r.drift.length === 0 ? 'no drift' : '',
              '',
            ].join('\n'),
          (r) => r.drift.length === 0,
        );
      if (opts.watch === undefined) return once();
      const seconds = typeof opts.watch === 'string' ? Number(opts.watch) : 2;
      if (!Number.isFinite(seconds) || seconds <= 0)
        throw new AirlockError<CliErrorCode>(
          'USAGE',
          `--watch takes a number of seconds above 0, not "${String(opts.watch)}"`,
          { hint: 'e.g. `airlock status --env prod --watch 5` (default 2).' },
        );
      // Redraws until Ctrl-C (the session's abort signal); the exit status is the last redraw's.
      const session = sessionOf(cmd);
      session.io.watchInterrupts?.();
      const { signal } = session.io;
      const json = globalOptions(cmd).json === true;
      while (!signal.aborted) {
        if (!json) session.io.stdout.write('\x1b[H\x1b[2J');
        session.exitCode = undefined;
        await once();
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            signal.removeEventListener('abort', done);
            resolve();
          }, seconds * 1000);
          signal.addEventListener('abort', done, { once: true });
        });
      }
    },
  );
}

/** `airlock ship`: the whole pipeline in one command. */
export function registerShip(cli: Command): void {
  insecureRegistryOption(
    cli
      .command('ship')
      .description(
        'the main job: lock check → fetch → build → repro → SBOM + provenance + sign → verify → progressive deploy → status',
      )
      .argument('[target]', 'the target to ship (default: the one with an image:)')
      .requiredOption('--env <name>', 'environment declared under environments: in airlock.yaml')
      .requiredOption('--key <file>', 'cosign-format private key that signs the evidence')
      .option('-C, --project <dir>', 'project directory', '.')
      .option('--no-repro', 'skip the reproducibility check')
      .addHelpText(
        'after',
        '\nStops at the first failing stage and names it; exits 1 then. The key password comes from AIRLOCK_PASSWORD or COSIGN_PASSWORD, or is asked on the terminal.',
      ),
  ).action(
    async (
      target: string | undefined,
      opts: {
        env: string;
        key: string;
        project: string;
        repro: boolean;
        insecureRegistry: string[];
      },
      cmd: Command,
    ) => {
      await runReport(
        cmd,
        async ({ global, events, session }) => {
          const collected = eventSink(global.json, session.io.stderr);
          const { signingPassword } = await import('./keygen.js');
          const password = await signingPassword(session.io);
          const { runShip } = await import('../../pipeline/ship.js');
          const report = await runShip({
            project: session.path(opts.project),
            environment: opts.env,
            target,
            repro: opts.repro,
            key: session.path(opts.key),
            password,
            store: global.store,
            insecure: opts.insecureRegistry,
            events,
            onEvent: collected.sink,
          });
          return { ...report, events: collected.events };
        },
        (r) =>
          r.stages.map((s) => `${s.ok ? 'ok  ' : 'FAIL'} ${s.stage}: ${s.detail}\n`).join('') +
          (r.failed ? `stopped at ${r.failed}\n` : `shipped ${r.artifact ?? ''}\n`),
        (r) => r.failed === undefined,
      );
    },
  );
}
