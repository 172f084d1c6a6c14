import { canonicalJson } from '../core/canonical.js';
import type { Digest } from '../core/digest.js';
import { parseEnvelope, signEnvelope, verifyEnvelope, type DsseEnvelope } from './dsse.js';
import type { PublicKeyInfo, SigningKey } from './keys.js';

/*
 * The signature of a remote action-cache entry: a DSSE envelope whose payload
 * is the canonical JSON
 *
 *   {"actionKey":"sha256:…","builder":{"keyId":"sha256:<sha256 of the signer's SPKI DER>"},
 *    "format":"airlock.cache-signature/v1","result":"sha256:<digest of the ActionResult JSON>"}
 *
 * A reader accepts the entry only when a trusted key signed it, the payload
 * names the very action key it asked for and the result the entry carries,
 * and the builder named is the key that signed.
 */

export const CACHE_SIGNATURE_FORMAT = 'airlock.cache-signature/v1';
export const CACHE_SIGNATURE_PAYLOAD_TYPE = 'application/vnd.airlock.cache-entry+json';

/** What the trust check of a remote entry decided. */
export type EntryVerdict =
  { ok: true; keyId: Digest } | { ok: false; reason: string; signer: string };

/** Signs (action key, result, builder) for publication; returns the envelope JSON bytes. */
export function signCacheEntry(key: SigningKey, actionKey: Digest, result: Digest): Buffer {
  const payload = Buffer.from(
    canonicalJson({
      actionKey,
      builder: { keyId: key.keyId },
      format: CACHE_SIGNATURE_FORMAT,
      result,
    }),
    'utf8',
  );
  return Buffer.from(canonicalJson(signEnvelope(CACHE_SIGNATURE_PAYLOAD_TYPE, payload, key)));
}

/** Who an envelope claims signed it, for warnings (never trusted). */
function claimedSigner(env: DsseEnvelope | undefined): string {
  const ids = env?.signatures.map((s) => s.keyid).filter((k) => k !== '') ?? [];
  return ids.length > 0 ? `key ${ids.join(', ')}` : 'an unnamed key';
}

/**
 * Checks an entry's signature envelope against the trusted keys: pure and
 * synchronous once the keys are loaded. Any doubt is a refusal.
 */
export function verifyCacheEntry(
  envelopeBytes: Uint8Array | undefined,
  expected: { actionKey: Digest; result: Digest },
  trusted: readonly PublicKeyInfo[],
): EntryVerdict {
  if (envelopeBytes === undefined)
    return { ok: false, reason: 'it is not signed', signer: 'nobody' };
  const env = parseEnvelope(envelopeBytes);
  if (!env) return { ok: false, reason: 'its signature is not a DSSE envelope', signer: 'unknown' };
  const signer = claimedSigner(env);
  if (env.payloadType !== CACHE_SIGNATURE_PAYLOAD_TYPE)
    return { ok: false, reason: `its signature has payload type ${env.payloadType}`, signer };
  const by = verifyEnvelope(env, trusted);
  if (!by)
    return {
      ok: false,
      reason: `it is signed by ${signer}, which is not a trusted builder`,
      signer,
    };
  let payload: {
    format?: unknown;
    actionKey?: unknown;
    result?: unknown;
    builder?: { keyId?: unknown };
  };
  try {
    payload = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as typeof payload;
  } catch {
    return { ok: false, reason: 'its signed payload is not JSON', signer: by.keyId };
  }
  if (payload.format !== CACHE_SIGNATURE_FORMAT)
    return { ok: false, reason: 'its signed payload has an unknown format', signer: by.keyId };
  if (payload.actionKey !== expected.actionKey)
    return {
      ok: false,
      reason: `its signature is for action key ${String(payload.actionKey)}, not ${expected.actionKey}`,
      signer: `key ${by.keyId}`,
    };
  if (payload.result !== expected.result)
    return {
      ok: false,
      reason: `its signature is for result ${String(payload.result)}, not ${expected.result}`,
      signer: `key ${by.keyId}`,
    };
  if (payload.builder?.keyId !== by.keyId)
    return {
      ok: false,
      reason: 'its signed payload names another builder than the key that signed it',
      signer: `key ${by.keyId}`,
    };
  return { ok: true, keyId: by.keyId };
}
