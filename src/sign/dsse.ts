import { sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { PublicKeyInfo, SigningKey } from './keys.js';

/*
 * DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1):
 *
 *   {"payloadType":"application/vnd.airlock.cache-entry+json",
 *    "payload":"<base64 of the payload bytes>",
 *    "signatures":[{"keyid":"sha256:…","sig":"<base64 of an ASN.1 DER ECDSA P-256/SHA-256 signature over PAE>"}]}
 *
 * The signature covers PAE(payloadType, payload), never the payload alone.
 */

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}

/** The DSSE pre-authentication encoding: `DSSEv1 <len> <type> <len> <body>`, lengths in bytes. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.byteLength} `, 'utf8'),
    type,
    Buffer.from(` ${payload.byteLength} `, 'utf8'),
    payload,
  ]);
}

/** Signs `payload` as a one-signature DSSE envelope. */
export function signEnvelope(
  payloadType: string,
  payload: Uint8Array,
  key: SigningKey,
): DsseEnvelope {
  const sig = cryptoSign('sha256', pae(payloadType, payload), key.privateKey);
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: [{ keyid: key.keyId, sig: sig.toString('base64') }],
  };
}

/** Parses an envelope's JSON; undefined when it is not one. */
export function parseEnvelope(bytes: Uint8Array): DsseEnvelope | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Partial<Record<keyof DsseEnvelope, unknown>>;
  if (typeof e.payloadType !== 'string' || typeof e.payload !== 'string') return undefined;
  if (!Array.isArray(e.signatures)) return undefined;
  const signatures: DsseSignature[] = [];
  for (const s of e.signatures as unknown[]) {
    if (typeof s !== 'object' || s === null) return undefined;
    const { keyid, sig } = s as { keyid?: unknown; sig?: unknown };
    if (typeof sig !== 'string') return undefined;
    signatures.push({ keyid: typeof keyid === 'string' ? keyid : '', sig });
  }
  return { payloadType: e.payloadType, payload: e.payload, signatures };
}

/**
 * The trusted key that signed `envelope` (the first whose signature checks
 * out over the PAE), or undefined. The `keyid` hint is never trusted: every
 * trusted key is tried against every signature.
 */
export function verifyEnvelope(
  envelope: DsseEnvelope,
  trusted: readonly PublicKeyInfo[],
): PublicKeyInfo | undefined {
  const payload = Buffer.from(envelope.payload, 'base64');
  if (payload.toString('base64') !== envelope.payload) return undefined; // not canonical base64
  const message = pae(envelope.payloadType, payload);
  for (const s of envelope.signatures) {
    const sig = Buffer.from(s.sig, 'base64');
    for (const key of trusted) {
      try {
        if (cryptoVerify('sha256', message, key.publicKey, sig)) return key;
      } catch {
        // a malformed signature is simply not a valid one
      }
    }
  }
  return undefined;
}
