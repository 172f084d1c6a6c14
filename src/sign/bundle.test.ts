import { sign as cryptoSign } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import { describe, expect, it } from 'vitest';
import {
  BUNDLE_MEDIA_TYPE,
  generateSigningKey,
  localKeySigner,
  signBlobBundle,
  signDsseBundle,
  verifyBundle,
} from './index.js';

const key = generateSigningKey();
const other = generateSigningKey();
const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
const TYPE = 'application/vnd.in-toto+json';

const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('DSSE bundles', () => {
  it('are v0.3 bundles that @sigstore/verify accepts on its own with the public key', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    expect(json.mediaType).toBe(BUNDLE_MEDIA_TYPE);
    const verifier = new Verifier(
      {
        certificateAuthorities: [],
        timestampAuthorities: [],
        tlogs: [],
        ctlogs: [],
        publicKey: () => ({ publicKey: key.publicKey, validFor: () => true }),
      },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    );
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(json)))).not.toThrow();
  });

  it('verify to the signer and the payload', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    const v = verifyBundle(bytes(json), [other, key]);
    expect(v.keyId).toBe(key.keyId);
    expect(v.payload?.equals(payload)).toBe(true);
    expect(v.payloadType).toBe(TYPE);
  });

  it('signed by a key not trusted are BUNDLE_UNTRUSTED', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(other));
    expect(() => verifyBundle(bytes(json), [key])).toThrow(
      expect.objectContaining({ code: 'BUNDLE_UNTRUSTED' }),
    );
  });

  it('with a changed payload are SIGNATURE_INVALID', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    const env = (json as { dsseEnvelope: { payload: string } }).dsseEnvelope;
    env.payload = Buffer.from('{"_type":"x"}').toString('base64');
    expect(() => verifyBundle(bytes(json), [key])).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );
  });

  it('whose signature covers the raw payload instead of the PAE are SIGNATURE_INVALID', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    const env = (json as { dsseEnvelope: { signatures: { sig: string }[] } }).dsseEnvelope;
    env.signatures[0]!.sig = cryptoSign('sha256', payload, key.privateKey).toString('base64');
    expect(() => verifyBundle(bytes(json), [key])).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );
  });

  it('with a v0.1 media type over v0.3 content are BUNDLE_INVALID', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    const v01 = { ...json, mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1' };
    expect(() => verifyBundle(bytes(v01), [key])).toThrow(
      expect.objectContaining({ code: 'BUNDLE_INVALID' }),
    );
  });

  it('with two signatures, one bad, are BUNDLE_INVALID', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    const env = (json as { dsseEnvelope: { signatures: { sig: string; keyid: string }[] } })
      .dsseEnvelope;
    env.signatures.push({ sig: Buffer.alloc(70, 1).toString('base64'), keyid: '' });
    expect(() => verifyBundle(bytes(json), [key])).toThrow(
      expect.objectContaining({ code: 'BUNDLE_INVALID' }),
    );
  });
});

describe('blob bundles', () => {
  it('verify against the file and fail on another file', async () => {
    const file = Buffer.from('hello');
    const json = await signBlobBundle(file, localKeySigner(key));
    expect(verifyBundle(bytes(json), [key], file).keyId).toBe(key.keyId);
    expect(() => verifyBundle(bytes(json), [key], Buffer.from('hellO'))).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );
  });
});
