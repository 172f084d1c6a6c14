import { open, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AirlockError, errnoCode } from '../core/errors.js';
import type { SignErrorCode } from '../sign/errors.js';

export interface KeygenRequest {
  /** Directory the files go to (default: the current directory). */
  dir?: string | undefined;
  /** File name prefix: `<prefix>.key` and `<prefix>.pub` (default `cosign`, as cosign names them). */
  prefix?: string | undefined;
  /** Encrypts the private key; may be empty (cosign allows it). Never logged. */
  password: string;
}

export interface KeygenReport {
  privateKey: string;
  publicKey: string;
  /** sha256 of the public key's SPKI DER: how Airlock names this builder in warnings and `why`. */
  keyId: string;
}

/**
 * `airlock keygen`: writes a fresh ECDSA P-256 key pair in cosign's formats.
 * Refuses to overwrite either file; the private key file is created mode 0600.
 */
export async function runKeygen(req: KeygenRequest): Promise<KeygenReport> {
  const { encodeKeyPair, generateSigningKey } = await import('../sign/index.js');
  const dir = resolve(req.dir ?? '.');
  const prefix = req.prefix ?? 'cosign';
  const privateKey = join(dir, `${prefix}.key`);
  const publicKey = join(dir, `${prefix}.pub`);
  const key = generateSigningKey();
  const files = await encodeKeyPair(key, req.password);
  const written: string[] = [];
  try {
    for (const [path, text, mode] of [
      [privateKey, files.privatePem, 0o600],
      [publicKey, files.publicPem, 0o644],
    ] as const) {
      let handle;
      try {
        handle = await open(path, 'wx', mode);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') {
          throw new AirlockError<SignErrorCode>('KEY_EXISTS', `${path} already exists`, {
            hint: 'Move it away first, or write the pair elsewhere with --dir or --prefix; keygen never overwrites a key.',
            details: { path },
          });
        }
        throw err;
      }
      written.push(path);
      try {
        await handle.writeFile(text);
        await handle.chmod(mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  } catch (err) {
    for (const p of written) await rm(p, { force: true });
    throw err;
  }
  return { privateKey, publicKey, keyId: key.keyId };
}
