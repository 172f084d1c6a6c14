import type { Command } from 'commander';
import { runReport } from '../run.js';

export function register(cli: Command): void {
  cli
    .command('verify')
    .description(
      'verify an artifact in the store against a policy: signatures, statements, builder, source, level, SBOM deny-list; offline',
    )
    .argument('<artifact>', 'a store tag (project/target) or manifest digest')
    .requiredOption('--policy <file>', 'policy file (docs/policy.md)')
    .option('--pull', 'pull <artifact> (host/repo:tag) with its attachments from a registry first')
    .option(
      '--insecure-registry <host:port>',
      'allow plain http to this registry (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .addHelpText(
      'after',
      '\nExits 1 when any rule fails or anything cannot be verified. Makes no network call unless --pull is given.',
    )
    .action(
      async (
        artifact: string,
        opts: { policy: string; pull?: boolean; insecureRegistry: string[] },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events, session }) => {
            const { runVerify } = await import('../../pipeline/verify.js');
            return runVerify({
              artifact,
              policy: session.path(opts.policy),
              store: global.store,
              events,
              ...(opts.pull ? { pull: { insecure: opts.insecureRegistry } } : {}),
            });
          },
          (r) =>
            `${r.pass ? 'PASS' : 'FAIL'} ${r.artifact} ${r.digest}\n` +
            r.rules.map((x) => `  ${x.pass ? 'pass' : 'FAIL'}  ${x.rule}: ${x.reason}\n`).join(''),
          (r) => r.pass,
        ),
    );
}
