import { sign as cryptoSign } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import { describe, expect, it } from 'vitest';
import {
  BUNDLE_MEDIA_TYPE,
  generateSigningKey,
  localKeySigner,
  parseBundle,
  signBlobBundle,
  signDsseBundle,
  verifyBundle,
} from './index.js';
import { keyDsseBundle } from './bundle.js';

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

  it('with an RFC 3161 timestamp that is not DER are BUNDLE_INVALID, not an untyped parse error', async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    const vm = (json as { verificationMaterial: Record<string, unknown> }).verificationMaterial;
    vm.timestampVerificationData = { rfc3161Timestamps: [{ signedTimestamp: 'AAAA' }] };
    expect(() => verifyBundle(bytes(json), [key])).toThrow(
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

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value inside `v` (object keys and array indexes). */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

/** A copy of `root` with the value at `path` replaced (`undefined` deletes it). */
function setAt(root: Json, path: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return value ?? null;
  let node = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

/** Structural variants of a bundle: each value replaced by other types, deleted, extended. */
function variants(json: Json): Json[] {
  const replacements: (Json | undefined)[] = [
    undefined,
    null,
    0,
    1,
    true,
    '',
    'x',
    'AAAA',
    '=',
    [],
    {},
    [{}],
    { hint: '' },
    { sig: 'AAAA', keyid: '' },
    { extra: 1 },
    { rfc3161Timestamps: [] },
    { rfc3161Timestamps: [{ signedTimestamp: 'AAAA' }] },
  ];
  const out: Json[] = [];
  for (const path of paths(json)) {
    for (const r of replacements) out.push(setAt(json, path, r));
    const here = path.reduce<Json>((n, k) => (n as Record<string | number, Json>)[k]!, json);
    if (Array.isArray(here)) out.push(setAt(json, path, [...here, ...here]));
    if (here !== null && typeof here === 'object' && !Array.isArray(here))
      out.push(setAt(json, path, { ...here, unknownField: 'x' }));
  }
  return out;
}

describe('the direct decoder of key-signed DSSE bundles', () => {
  const sigstoreAccepts = (json: Json): boolean => {
    try {
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
      verifier.verify(toSignedEntity(bundleFromJSON(json)));
      return true;
    } catch {
      return false;
    }
  };

  it("decodes the bundles Airlock writes to exactly @sigstore/bundle's result", async () => {
    const json = await signDsseBundle(payload, TYPE, localKeySigner(key));
    const direct = keyDsseBundle(json);
    expect(direct).toBeDefined();
    expect(direct).toStrictEqual(bundleFromJSON(json));
    expect(parseBundle(bytes(json))).toStrictEqual(bundleFromJSON(json));
  });

  it('returns either nothing or what @sigstore/bundle returns, and verify accepts exactly what @sigstore/verify accepts, over every altered shape', async () => {
    const json = (await signDsseBundle(payload, TYPE, localKeySigner(key))) as unknown as Json;
    // Also from shapes other writers use: no timestamp data, no tlogEntries and no keyid.
    const bases = [
      json,
      setAt(json, ['verificationMaterial', 'timestampVerificationData'], undefined),
      setAt(
        setAt(json, ['verificationMaterial', 'tlogEntries'], undefined),
        ['dsseEnvelope', 'signatures', 0, 'keyid'],
        undefined,
      ),
    ];
    const all = bases.flatMap(variants);
    expect(all.length).toBeGreaterThan(600);
    let direct = 0;
    let accepted = 0;
    for (const v of all) {
      const fast =
        v !== null && typeof v === 'object' && !Array.isArray(v) ? keyDsseBundle(v) : undefined;
      if (fast !== undefined) {
        direct++;
        expect(fast).toStrictEqual(bundleFromJSON(v));
      }
      let ours: boolean;
      try {
        verifyBundle(bytes(v), [key]);
        ours = true;
      } catch (err) {
        expect(err).toMatchObject({ code: expect.stringMatching(/^[A-Z_]+$/) as unknown });
        ours = false;
      }
      const isV03 = (v as { mediaType?: unknown } | null)?.mediaType === BUNDLE_MEDIA_TYPE;
      expect({ v, ours }).toStrictEqual({ v, ours: isV03 && sigstoreAccepts(v) });
      if (ours) accepted++;
    }
    // Both paths are exercised: many shapes take the direct decoder, some still verify.
    expect(direct).toBeGreaterThan(20);
    expect(accepted).toBeGreaterThan(0);
  });
});
