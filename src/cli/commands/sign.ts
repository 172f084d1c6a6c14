import type { Command } from 'commander';
import { runReport } from '../run.js';
import { signingPassword } from './keygen.js';

export function register(cli: Command): void {
  cli
    .command('sign')
    .description(
      'sign the last build of targets: SLSA provenance, CycloneDX and SPDX SBOMs (and pending reproducibility attestations) as Sigstore bundles attached to the artifact',
    )
    .argument('[target...]', 'targets to sign (default: all)')
    .option('-C, --project <dir>', 'project directory or airlock.yaml', '.')
    .requiredOption(
      '--key <file>',
      'cosign-format private key (airlock keygen, cosign generate-key-pair)',
    )
    .option(
      '--builder-id <uri>',
      'runDetails.builder.id of the provenance (default: a local Airlock on this host)',
    )
    .addHelpText(
      'after',
      '\nThe password comes from AIRLOCK_PASSWORD or COSIGN_PASSWORD, or is asked on the terminal.\nBundles are attached with artifactType application/vnd.dev.sigstore.bundle.v0.3+json; signing again replaces them.',
    )
    .action(
      async (
        targets: string[],
        opts: { project: string; key: string; builderId?: string },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events, session }) => {
            const password = await signingPassword(session.io);
            const { runSign } = await import('../../pipeline/sign.js');
            return runSign({
              project: session.path(opts.project),
              store: global.store,
              targets,
              key: session.path(opts.key),
              password,
              builderId: opts.builderId,
              events,
            });
          },
          (r) =>
            `Signed with ${r.keyId}\n` +
            r.targets
              .map(
                (t) =>
                  `${t.name}\t${t.artifact}\n` +
                  t.attachments.map((a) => `  ${a.digest}\t${a.predicateType}\n`).join(''),
              )
              .join(''),
        ),
    );
}
