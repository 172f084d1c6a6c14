import type { Command } from 'commander';
import { AirlockError } from '../../core/errors.js';
import { runReport } from '../run.js';
import type { CliIo, CliOutput } from '../session.js';

export function register(cli: Command): void {
  cli
    .command('keygen')
    .description(
      'write an ECDSA P-256 key pair in cosign format (cosign.key encrypted, cosign.pub) for signing cache entries',
    )
    .option('--dir <dir>', 'directory to write the key pair to', '.')
    .option('--prefix <name>', 'file name prefix of <name>.key and <name>.pub', 'cosign')
    .addHelpText(
      'after',
      '\nThe password comes from AIRLOCK_PASSWORD or COSIGN_PASSWORD, or is asked on the terminal.\nExisting files are never overwritten; the private key file is mode 0600.',
    )
    .action(async (opts: { dir: string; prefix: string }, cmd: Command) =>
      runReport(
        cmd,
        async ({ session }) => {
          const password = await keyPassword(session.io);
          const { runKeygen } = await import('../../pipeline/keygen.js');
          return runKeygen({ dir: session.path(opts.dir), prefix: opts.prefix, password });
        },
        (r) =>
          `Private key written to ${r.privateKey}\nPublic key written to ${r.publicKey}\nKey id: ${r.keyId}\n`,
      ),
    );
}

/** An existing key's password: from the environment, else asked once on the terminal. */
export async function signingPassword(io: CliIo): Promise<string> {
  const env = io.env['AIRLOCK_PASSWORD'] ?? io.env['COSIGN_PASSWORD'];
  if (env !== undefined) return env;
  if (io.stdin?.isTTY !== true || io.stderr.isTTY !== true) {
    throw new AirlockError<'USAGE'>('USAGE', 'no password for the private key', {
      hint: 'Set AIRLOCK_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be asked.',
    });
  }
  return askHidden(io.stdin, io.stderr, 'Enter password for private key: ');
}

/** The new key's password: from the environment, else asked twice on the terminal. */
async function keyPassword(io: CliIo): Promise<string> {
  const env = io.env['AIRLOCK_PASSWORD'] ?? io.env['COSIGN_PASSWORD'];
  if (env !== undefined) return env;
  if (io.stdin?.isTTY !== true || io.stderr.isTTY !== true) {
    throw new AirlockError<'USAGE'>('USAGE', 'no password for the private key', {
      hint: 'Set AIRLOCK_PASSWORD (or COSIGN_PASSWORD), or run keygen on a terminal to be asked.',
    });
  }
  const first = await askHidden(io.stdin, io.stderr, 'Enter password for private key: ');
  const again = await askHidden(io.stdin, io.stderr, 'Enter password for private key again: ');
  if (first !== again) {
    throw new AirlockError<'USAGE'>('USAGE', 'the two passwords differ', {
      hint: 'Run keygen again and type the same password twice.',
    });
  }
  return first;
}

/** Reads one line from the terminal without echoing it. */
function askHidden(stdin: NodeJS.ReadStream, stderr: CliOutput, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let text = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003')
          return done(new AirlockError<'INTERRUPTED'>('INTERRUPTED', 'interrupted'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}
