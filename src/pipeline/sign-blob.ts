import { readFile, writeFile } from 'node:fs/promises';
import { AirlockError } from '../core/errors.js';
import { canonicalJson } from '../core/canonical.js';
import {
  decodePublicKey,
  localKeySigner,
  signBlobBundle,
  verifyBundle,
  type BundleErrorCode,
} from '../sign/index.js';
import type { PolicyErrorCode } from '../policy/index.js';
import type { EvidenceErrorCode } from './errors.js';
import { loadSigningKey } from './sign.js';

export interface SignBlobRequest {
  file: string;
  key: string;
  password: string;
  /** Where the bundle goes (default `<file>.sigstore.json`). */
  bundle?: string | undefined;
}

/**
 * `airlock sign-blob FILE`: a Sigstore bundle v0.3 (message signature) over
 * the file's bytes, the shape `cosign sign-blob --bundle` users read.
 */
export async function runSignBlob(
  req: SignBlobRequest,
): Promise<{ bundle: string; keyId: string }> {
  const key = await loadSigningKey(req.key, req.password);
  const data = await readFile(req.file);
  const bundle = await signBlobBundle(data, localKeySigner(key));
  const out = req.bundle ?? `${req.file}.sigstore.json`;
  await writeFile(out, `${canonicalJson(bundle)}\n`, { flag: 'wx' }).catch((err: unknown) => {
    if ((err as { code?: string }).code === 'EEXIST')
      throw new AirlockError<EvidenceErrorCode>('BUNDLE_EXISTS', `${out} already exists`, {
        hint: 'Remove it or write the bundle elsewhere with --bundle.',
      });
    throw err;
  });
  return { bundle: out, keyId: key.keyId };
}

export interface VerifyBlobRequest {
  file: string;
  bundle: string;
  /** Public key file(s). */
  keys: string[];
}

/** `airlock verify-blob FILE --bundle B --key K`: offline, through @sigstore/verify. */
export async function runVerifyBlob(
  req: VerifyBlobRequest,
): Promise<{ file: string; keyId: string }> {
  if (req.keys.length === 0)
    throw new AirlockError<PolicyErrorCode>('POLICY_INVALID', 'no public key to verify with', {
      hint: "Give the signer's public key with --key.",
    });
  const keys = await Promise.all(
    req.keys.map(async (k) => decodePublicKey(await readFile(k, 'utf8'), k)),
  );
  const v = verifyBundle(await readFile(req.bundle), keys, await readFile(req.file));
  if (v.payload !== undefined)
    throw new AirlockError<BundleErrorCode>(
      'BUNDLE_INVALID',
      `${req.bundle} signs a statement, not a file`,
      {
        hint: 'Give the bundle `airlock sign-blob` (or `cosign sign-blob --bundle`) wrote for this file.',
      },
    );
  return { file: req.file, keyId: v.keyId };
}
