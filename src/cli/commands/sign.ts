import type { Command } from 'commander';
import { AirlockError } from '../../core/errors.js';
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
    .option('--key <file>', 'cosign-format private key (airlock keygen, cosign generate-key-pair)')
    .option(
      '--keyless',
      'keyless signing with Fulcio and Rekor: not supported (Airlock signs offline with keys); says so and exits 1',
    )
    .option(
      '--builder-id <uri>',
      'runDetails.builder.id of the provenance (default: a local Airlock on this host)',
    )
    .addHelpText(
      'after',
      '\nThe password comes from AIRLOCK_PASSWORD or COSIGN_PASSWORD, or is asked on the terminal.\nBundles are attached with one artifactType per statement (application/vnd.airlock.<slsa-provenance|cyclonedx|spdx|test-result|reproducibility>.sigstore-bundle.v0.3+json); signing again replaces them.',
    )
    .action(
      async (
        targets: string[],
        opts: { project: string; key?: string; keyless?: boolean; builderId?: string },
        cmd: Command,
      ) =>
        runReport(
          cmd,
          async ({ global, events, session }) => {
            const { runSign, keylessUnsupported } = await import('../../pipeline/sign.js');
            if (opts.keyless === true) throw keylessUnsupported();
            if (opts.key === undefined)
              throw new AirlockError<'USAGE'>('USAGE', 'sign needs --key <cosign.key>', {
                hint: 'Give the private key written by `airlock keygen` or `cosign generate-key-pair`.',
              });
            const password = await signingPassword(session.io);
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
