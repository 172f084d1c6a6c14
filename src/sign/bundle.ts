import { createHash, sign as cryptoSign } from 'node:crypto';
import {
  BUNDLE_V03_MEDIA_TYPE,
  bundleFromJSON,
  bundleToJSON,
  isBundleWithDsseEnvelope,
  toMessageSignatureBundle,
  type Bundle,
  type SerializedBundle,
} from '@sigstore/bundle';
import { DSSEBundleBuilder, type Signature, type Signer } from '@sigstore/sign';
import { Verifier, toSignedEntity, type TrustMaterial } from '@sigstore/verify';
import { AirlockError } from '../core/errors.js';
import type { SignErrorCode } from './errors.js';
import type { PublicKeyInfo, SigningKey } from './keys.js';

/*
 * Sigstore bundles v0.3 (https://github.com/sigstore/protobuf-specs,
 * application/vnd.dev.sigstore.bundle.v0.3+json), made by @sigstore/sign and
 * checked by @sigstore/verify:
 *
 *   {"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
 *    "verificationMaterial":{"publicKey":{"hint":"sha256:<key id>"},"tlogEntries":[],
 *                            "timestampVerificationData":{"rfc3161Timestamps":[]}},
 *    "dsseEnvelope":{"payload":"<base64 statement>","payloadType":"application/vnd.in-toto+json",
 *                    "signatures":[{"sig":"<base64 DER ECDSA over PAE>","keyid":"sha256:<key id>"}]}}
 *
 * With a local key there is no transparency log or timestamp: the verifier
 * is told to expect none, and trust comes from the policy's public keys alone.
 */

/** Bundles that cannot be read, are signed by no trusted key, or whose signature fails (SIGNATURE_INVALID). */
export type BundleErrorCode = 'BUNDLE_INVALID' | 'BUNDLE_UNTRUSTED' | SignErrorCode;

export const BUNDLE_MEDIA_TYPE = BUNDLE_V03_MEDIA_TYPE;

/** A @sigstore/sign Signer over a local cosign-format key: ECDSA P-256/SHA-256, the key id as hint. */
export function localKeySigner(key: SigningKey): Signer {
  const publicKey = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    sign: (data: Buffer): Promise<Signature> =>
      Promise.resolve({
        signature: cryptoSign('sha256', data, key.privateKey),
        key: { $case: 'publicKey', publicKey, hint: key.keyId },
      }),
  };
}

/** Signs `payload` (of DSSE type `payloadType`) as a DSSE envelope inside a v0.3 bundle. */
export async function signDsseBundle(
  payload: Uint8Array,
  payloadType: string,
  signer: Signer,
): Promise<SerializedBundle> {
  const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
  const bundle = await builder.create({ data: Buffer.from(payload), type: payloadType });
  return bundleToJSON(bundle);
}

/**
 * Signs the bytes of a file as a v0.3 message-signature bundle (what cosign's
 * `sign-blob --bundle` writes for a key). @sigstore/sign's message builder
 * writes v0.2 for these, so the bundle is assembled by @sigstore/bundle.
 */
export async function signBlobBundle(data: Uint8Array, signer: Signer): Promise<SerializedBundle> {
  const sig = await signer.sign(Buffer.from(data));
  const bundle = toMessageSignatureBundle({
    digest: createHash('sha256').update(data).digest(),
    signature: sig.signature,
    ...(sig.key.$case === 'publicKey' && sig.key.hint ? { keyHint: sig.key.hint } : {}),
    certificateChain: false,
  });
  return bundleToJSON(bundle);
}

const bundleError = (
  code: BundleErrorCode,
  message: string,
  cause?: unknown,
): AirlockError<BundleErrorCode> =>
  new AirlockError<BundleErrorCode>(code, message, {
    hint:
      code === 'BUNDLE_UNTRUSTED'
        ? "Add the signer's public key to the policy, or re-sign with a trusted key."
        : 'The bundle was altered or was not made by Airlock or cosign; re-sign the artifact.',
    ...(cause === undefined ? {} : { cause }),
  });

/** Parses bundle JSON strictly: valid JSON, the v0.3 media type, a shape @sigstore/bundle accepts. */
export function parseBundle(bytes: Uint8Array): Bundle {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw bundleError('BUNDLE_INVALID', 'the bundle is not JSON', err);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw bundleError('BUNDLE_INVALID', 'the bundle is not a JSON object');
  const mediaType = (json as { mediaType?: unknown }).mediaType;
  if (mediaType !== BUNDLE_MEDIA_TYPE)
    throw bundleError(
      'BUNDLE_INVALID',
      `the bundle's media type is ${JSON.stringify(mediaType)}, not ${BUNDLE_MEDIA_TYPE}`,
    );
  try {
    return bundleFromJSON(json);
  } catch (err) {
    throw bundleError('BUNDLE_INVALID', `the bundle is malformed: ${(err as Error).message}`, err);
  }
}

/** Trust material that knows one key, whatever the bundle's hint says. */
function keyTrust(key: PublicKeyInfo): TrustMaterial {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => ({ publicKey: key.publicKey, validFor: () => true }),
  };
}

/** What a verified bundle proves: who signed and, for DSSE, the signed payload. */
export interface VerifiedBundle {
  keyId: string;
  payloadType?: string;
  payload?: Buffer;
}

/**
 * Verifies a v0.3 bundle through @sigstore/verify against trusted public
 * keys (no transparency log or timestamp: key-based, offline). A message
 * signature bundle needs the `artifact` bytes. Every failure is an
 * AirlockError: BUNDLE_INVALID, BUNDLE_UNTRUSTED or SIGNATURE_INVALID.
 */
export function verifyBundle(
  bytes: Uint8Array,
  trusted: readonly PublicKeyInfo[],
  artifact?: Uint8Array,
): VerifiedBundle {
  const bundle = parseBundle(bytes);
  const hint =
    bundle.verificationMaterial.content.$case === 'publicKey'
      ? bundle.verificationMaterial.content.publicKey.hint
      : undefined;
  if (hint === undefined)
    throw bundleError(
      'BUNDLE_UNTRUSTED',
      'the bundle carries a certificate (keyless, Fulcio): Airlock verifies key-signed bundles only, offline, and has no Sigstore trusted root for certificates',
    );
  if (!isBundleWithDsseEnvelope(bundle) && artifact === undefined)
    throw bundleError('BUNDLE_INVALID', 'a message-signature bundle needs the signed file');
  // The hint picks the key to try first; it is never trusted on its own.
  const candidates = [...trusted].sort(
    (a, b) => Number(b.keyId === hint) - Number(a.keyId === hint),
  );
  const entity = toSignedEntity(bundle, artifact === undefined ? undefined : Buffer.from(artifact));
  let signer: PublicKeyInfo | undefined;
  let lastError: unknown;
  for (const key of candidates) {
    try {
      new Verifier(keyTrust(key), {
        tlogThreshold: 0,
        ctlogThreshold: 0,
        timestampThreshold: 0,
      }).verify(entity);
      signer = key;
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (!signer) {
    if (trusted.some((k) => k.keyId === hint))
      throw bundleError(
        'SIGNATURE_INVALID',
        `the signature does not verify: ${(lastError as Error).message}`,
        lastError,
      );
    throw bundleError(
      'BUNDLE_UNTRUSTED',
      `the bundle is not signed by a trusted key (its hint names ${hint || 'no key'})`,
      lastError,
    );
  }
  if (isBundleWithDsseEnvelope(bundle)) {
    return {
      keyId: signer.keyId,
      payloadType: bundle.content.dsseEnvelope.payloadType,
      payload: Buffer.from(bundle.content.dsseEnvelope.payload),
    };
  }
  return { keyId: signer.keyId };
}
