import type { Command } from 'commander';
import { runReport } from '../run.js';
import { signingPassword } from './keygen.js';

export function register(cli: Command): void {
  cli
    .command('sign-blob')
    .description('sign a file: a Sigstore bundle v0.3 beside it (cosign sign-blob --bundle format)')
    .argument('<file>', 'the file to sign')
    .requiredOption('--key <file>', 'cosign-format private key')
    .option('--bundle <file>', 'where the bundle goes (default <file>.sigstore.json)')
    .action(async (file: string, opts: { key: string; bundle?: string }, cmd: Command) =>
      runReport(
        cmd,
        async ({ session }) => {
          const password = await signingPassword(session.io);
          const { runSignBlob } = await import('../../pipeline/sign-blob.js');
          return runSignBlob({
            file: session.path(file),
            key: session.path(opts.key),
            password,
            bundle: session.optionalPath(opts.bundle),
          });
        },
        (r) => `Bundle written to ${r.bundle}\nKey id: ${r.keyId}\n`,
      ),
    );
  cli
    .command('verify-blob')
    .description('verify a file against its Sigstore bundle and a public key; offline')
    .argument('<file>', 'the signed file')
    .requiredOption('--bundle <file>', 'the bundle sign-blob wrote')
    .requiredOption(
      '--key <file>',
      'trusted public key (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .action(async (file: string, opts: { bundle: string; key: string[] }, cmd: Command) =>
      runReport(
        cmd,
        async ({ session }) => {
          const { runVerifyBlob } = await import('../../pipeline/sign-blob.js');
          return runVerifyBlob({
            file: session.path(file),
            bundle: session.path(opts.bundle),
            keys: opts.key.map((k) => session.path(k)),
          });
        },
        (r) => `Verified OK: ${r.file} signed by ${r.keyId}\n`,
      ),
    );
}
