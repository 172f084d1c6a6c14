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

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when every own key of `o` is one of `allowed`. */
const onlyKeys = (o: Record<string, unknown>, allowed: readonly string[]): boolean => {
  for (const k in o) if (!allowed.includes(k)) return false;
  return true;
};

/**
 * The Bundle that @sigstore/bundle's `bundleFromJSON` returns for `json`, built
 * directly, when `json` has exactly the shape Airlock and cosign write for a
 * key-signed DSSE bundle: a public-key hint, no transparency-log entry, no
 * timestamp, one signature, non-empty payload and signature, no other field.
 * Undefined for anything else, which then takes the generic decoder (and its
 * validation). Why: the generic decoder copies every byte field twice
 * (`Uint8Array.from` over a Buffer) and costs more than the rest of Airlock's
 * checks together; a test compares the two on thousands of shapes.
 */
export function keyDsseBundle(json: Record<string, unknown>): Bundle | undefined {
  const { mediaType, verificationMaterial: vm, dsseEnvelope: env } = json;
  if (typeof mediaType !== 'string' || !isObject(vm) || !isObject(env)) return undefined;
  if (!onlyKeys(json, ['mediaType', 'verificationMaterial', 'dsseEnvelope'])) return undefined;
  if (!onlyKeys(vm, ['publicKey', 'tlogEntries', 'timestampVerificationData'])) return undefined;
  const { publicKey, tlogEntries, timestampVerificationData: tsv } = vm;
  if (!isObject(publicKey) || !onlyKeys(publicKey, ['hint'])) return undefined;
  if (typeof publicKey.hint !== 'string') return undefined;
  if (!(tlogEntries === undefined || (Array.isArray(tlogEntries) && tlogEntries.length === 0)))
    return undefined;
  let timestamps: { rfc3161Timestamps: [] } | undefined;
  if (tsv !== undefined) {
    if (!isObject(tsv) || !onlyKeys(tsv, ['rfc3161Timestamps'])) return undefined;
    const ts = tsv.rfc3161Timestamps;
    if (!(ts === undefined || (Array.isArray(ts) && ts.length === 0))) return undefined;
    timestamps = { rfc3161Timestamps: [] };
  }
  if (!onlyKeys(env, ['payload', 'payloadType', 'signatures'])) return undefined;
  const { payload, payloadType, signatures } = env;
  if (typeof payload !== 'string' || typeof payloadType !== 'string') return undefined;
  if (!Array.isArray(signatures) || signatures.length !== 1) return undefined;
  const s: unknown = signatures[0];
  if (!isObject(s) || !onlyKeys(s, ['sig', 'keyid'])) return undefined;
  if (typeof s.sig !== 'string' || !(s.keyid === undefined || typeof s.keyid === 'string'))
    return undefined;
  const payloadBytes = Buffer.from(payload, 'base64');
  const sig = Buffer.from(s.sig, 'base64');
  if (payloadBytes.byteLength === 0 || sig.byteLength === 0) return undefined;
  if (
    !/^application\/vnd\.dev\.sigstore\.bundle\+json;version=\d\.\d/.test(mediaType) &&
    !/^application\/vnd\.dev\.sigstore\.bundle\.v\d\.\d\+json/.test(mediaType)
  )
    return undefined;
  return {
    mediaType,
    verificationMaterial: {
      content: { $case: 'publicKey', publicKey: { hint: publicKey.hint } },
      tlogEntries: [],
      timestampVerificationData: timestamps,
    },
    content: {
      $case: 'dsseEnvelope',
      dsseEnvelope: {
        payload: payloadBytes,
        payloadType,
        signatures: [{ sig, keyid: s.keyid ?? '' }],
      },
    },
  };
}

/** Parses bundle JSON strictly: valid JSON, the v0.3 media type, a shape @sigstore/bundle accepts. */
export function parseBundle(bytes: Uint8Array): Bundle {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString());
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
  const fast = keyDsseBundle(json as Record<string, unknown>);
  if (fast) return fast;
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

const verifiers = new WeakMap<PublicKeyInfo, Verifier>();

/** The @sigstore/verify Verifier of one trusted key (no log, no timestamp), made once per key. */
function keyVerifier(key: PublicKeyInfo): Verifier {
  let v = verifiers.get(key);
  if (!v) {
    v = new Verifier(keyTrust(key), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    verifiers.set(key, v);
  }
  return v;
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
  const candidates =
    trusted[0]?.keyId === hint
      ? trusted
      : [...trusted].sort((a, b) => Number(b.keyId === hint) - Number(a.keyId === hint));
  let entity: ReturnType<typeof toSignedEntity>;
  try {
    // Parses any RFC 3161 timestamp and certificate in the bundle: their DER may be junk.
    entity = toSignedEntity(bundle, artifact === undefined ? undefined : Buffer.from(artifact));
  } catch (err) {
    throw bundleError('BUNDLE_INVALID', `the bundle is malformed: ${(err as Error).message}`, err);
  }
  let signer: PublicKeyInfo | undefined;
  let lastError: unknown;
  for (const key of candidates) {
    try {
      keyVerifier(key).verify(entity);
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
      payload: bundle.content.dsseEnvelope.payload, // a Buffer of its own, decoded from base64
    };
  }
  return { keyId: signer.keyId };
}
