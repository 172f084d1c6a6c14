import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import { describe, expect, it, vi } from 'vitest';
import {
  BUNDLE_MEDIA_TYPE,
  generateSigningKey,
  keyIdOf,
  pae,
  localKeySigner,
  parseBundle,
  signBlobBundle,
  signDsseBundle,
  verifyBundle,
  type PublicKeyInfo,
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

const isRecord = (v: Json): v is { [k: string]: Json } =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads an ECDSA DER signature into its two integers. */
function derInts(der: Buffer): [bigint, bigint] {
  const ints: bigint[] = [];
  let at = 2;
  while (ints.length < 2) {
    const len = der[at + 1]!;
    ints.push(BigInt(`0x${der.subarray(at + 2, at + 2 + len).toString('hex') || '0'}`));
    at += 2 + len;
  }
  return [ints[0]!, ints[1]!];
}

/** Minimal DER of an ECDSA signature (r, s); `pad` adds a needless leading zero to r. */
function der(r: bigint, s: bigint, pad = false): Buffer {
  const int = (x: bigint, extra: boolean): Buffer => {
    let hex = x.toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    let b = Buffer.from(hex, 'hex');
    if (b[0]! & 0x80 || extra) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
  };
  const body = Buffer.concat([int(r, pad), int(s, false)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

describe('direct verification of key-signed DSSE bundles', () => {
  const info = (publicKey: KeyObject): PublicKeyInfo => ({ publicKey, keyId: keyIdOf(publicKey) });
  const pair = (type: 'ec' | 'ed25519' | 'rsa', namedCurve?: string) => {
    const k =
      type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: namedCurve! })
        : type === 'rsa'
          ? generateKeyPairSync('rsa', { modulusLength: 2048 })
          : generateKeyPairSync('ed25519');
    return {
      privateKey: k.privateKey,
      ...info(k.publicKey),
      digest: type === 'ed25519' ? null : 'sha256',
    };
  };
  const signers = {
    p256: { privateKey: key.privateKey, ...info(key.publicKey), digest: 'sha256' as string | null },
    other: {
      privateKey: other.privateKey,
      ...info(other.publicKey),
      digest: 'sha256' as string | null,
    },
    p384: pair('ec', 'secp384r1'),
    k1: pair('ec', 'secp256k1'),
    ed: pair('ed25519'),
    rsa: pair('rsa'),
  };
  const trustSets: PublicKeyInfo[][] = [
    [signers.p256],
    [signers.other],
    [signers.other, signers.p256],
    [signers.p384],
    [signers.p384, signers.p256],
    [signers.k1],
    [signers.ed, signers.p256],
    [signers.rsa],
    [],
  ];

  const isSlow = (k: PublicKeyInfo): boolean => k === signers.p384 || k === signers.k1;

  const sigstoreAccepts = (json: Json, trusted: readonly PublicKeyInfo[]): boolean => {
    if ((json as { mediaType?: unknown } | null)?.mediaType !== BUNDLE_MEDIA_TYPE) return false;
    return trusted.some((k) => {
      try {
        const verifier = new Verifier(
          {
            certificateAuthorities: [],
            timestampAuthorities: [],
            tlogs: [],
            ctlogs: [],
            publicKey: () => ({ publicKey: k.publicKey, validFor: () => true }),
          },
          { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
        );
        verifier.verify(toSignedEntity(bundleFromJSON(json)));
        return true;
      } catch {
        return false;
      }
    });
  };

  /** Signatures over a DSSE envelope of (type, body), good and bad, by each signer. */
  function signatures(
    type: string,
    body: Buffer,
  ): { sigs: (string | undefined)[][]; good: string; slow: Set<number> } {
    const message = pae(type, body);
    const out: (string | undefined)[][] = [];
    const slow = new Set<number>(); // made by a key that is slow to check (P-384, secp256k1)
    const b64 = (b: Buffer): string => b.toString('base64');
    let good = '';
    for (const s of Object.values(signers)) {
      const from = out.length;
      const sig = cryptoSign(s.digest, message, s.privateKey);
      if (s === signers.p256) good = b64(sig);
      out.push([b64(sig)]);
      out.push([b64(cryptoSign(s.digest, body, s.privateKey))]); // over the raw payload
      out.push([b64(Buffer.concat([sig, Buffer.from([0])]))]);
      out.push([b64(sig.subarray(0, sig.length - 1))]);
      if (s.digest !== null) {
        for (const d of ['sha1', 'sha384', 'sha512'])
          out.push([b64(cryptoSign(d, message, s.privateKey))]);
      }
      if (s.publicKey.asymmetricKeyType === 'ec') {
        out.push([
          b64(cryptoSign('sha256', message, { key: s.privateKey, dsaEncoding: 'ieee-p1363' })),
        ]);
        const [r, sv] = derInts(sig);
        out.push([b64(der(r, sv, true))]); // not minimal DER
        if (s === signers.p256 || s === signers.other) out.push([b64(der(r, P256_ORDER - sv))]); // high S
        out.push([b64(der(r, sv + P256_ORDER))]);
        out.push([b64(der(sv, r))]);
      }
      if (s === signers.p384 || s === signers.k1)
        for (let i = from; i < out.length; i++) slow.add(i);
    }
    // The PAE with the type's length in characters instead of bytes; a PAE over another type.
    out.push([
      b64(
        cryptoSign(
          'sha256',
          Buffer.from(
            `DSSEv1 ${type.length} ${type} ${body.length} ${body.toString('latin1')}`,
            'latin1',
          ),
          key.privateKey,
        ),
      ),
    ]);
    out.push([b64(cryptoSign('sha256', pae(`${type}x`, body), key.privateKey))]);
    out.push([
      b64(
        cryptoSign(
          'sha256',
          Buffer.concat([
            Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length}`),
            body,
          ]),
          key.privateKey,
        ),
      ),
    ]);
    const bad = b64(Buffer.alloc(70, 1));
    out.push([], [''], ['AAAA'], [good, good], [good, bad], [bad, good], [good, undefined]);
    return { sigs: out, good, slow };
  }

  it('accepts exactly what @sigstore/verify accepts, without calling it, over signature, key, key id and type variants', async () => {
    // The type Airlock writes, and one whose length in bytes is not its length in characters.
    const types = [TYPE, 'typ\u00e9/\u{1f511}'];
    const base = (await signDsseBundle(payload, TYPE, localKeySigner(key))) as unknown as Json;
    const cases: Json[] = [];
    // Checked against the slow keys too (P-384 and secp256k1 take ten times longer than P-256).
    const slowCases: Json[] = [];
    for (const type of types) {
      const { sigs, good, slow } = signatures(type, payload);
      for (const [i, list] of sigs.entries()) {
        for (const [hint, keyid] of [
          [key.keyId, key.keyId],
          [other.keyId, undefined],
          ['', 'sha256:whatever'],
        ] as const) {
          const env = {
            payload: payload.toString('base64'),
            payloadType: type,
            signatures: list.map((sig) =>
              sig === undefined
                ? { keyid: '' }
                : { sig, ...(keyid === undefined ? {} : { keyid }) },
            ),
          };
          (slow.has(i) || i % 4 === 0 ? slowCases : cases).push(
            setAt(
              setAt(base, ['dsseEnvelope'], env),
              ['verificationMaterial', 'publicKey', 'hint'],
              hint,
            ),
          );
        }
      }
      // The good signature with the envelope changed after signing.
      for (const [k, v] of [
        ['payloadType', `${type} `],
        ['payloadType', type.toUpperCase()],
        ['payloadType', 'application/json'],
        ['payload', Buffer.from(`${payload.toString()} `).toString('base64')],
        ['payload', payload.toString('base64url')],
        ['payload', `${payload.toString('base64')}\n`],
      ] as const) {
        const env = {
          payload: payload.toString('base64'),
          payloadType: type,
          signatures: [{ sig: good, keyid: key.keyId }],
        };
        cases.push(setAt(base, ['dsseEnvelope'], { ...env, [k]: v }));
      }
    }
    expect(cases.length + slowCases.length).toBeGreaterThan(300);
    const spy = vi.spyOn(Verifier.prototype, 'verify');
    let direct = 0;
    const verdicts = { accepted: 0, rejected: 0, directAccepted: 0, directRejected: 0 };
    const wrong: unknown[] = [];
    try {
      for (const v of [...slowCases, ...cases]) {
        const shape = isRecord(v) ? keyDsseBundle(v) : undefined;
        const sets = slowCases.includes(v) ? trustSets : trustSets.filter((t) => !t.some(isSlow));
        for (const trusted of sets) {
          const calls = spy.mock.calls.length;
          let ours: boolean;
          try {
            verifyBundle(bytes(v), trusted);
            ours = true;
          } catch (err) {
            if (!/^[A-Z_]+$/.test((err as { code?: string }).code ?? '')) wrong.push({ v, err });
            ours = false;
          }
          const skipped = trusted.length > 0 && spy.mock.calls.length === calls;
          const keys = trusted.map(
            (k) => k.publicKey.asymmetricKeyDetails?.namedCurve ?? k.publicKey.asymmetricKeyType,
          );
          if (ours !== sigstoreAccepts(v, trusted)) wrong.push({ v, keys, ours });
          // Skipping the Verifier otherwise means the decoder rejected the bundle first.
          if (skipped && shape === undefined && ours)
            wrong.push({ v, keys, skippedAndAccepted: true });
          verdicts[ours ? 'accepted' : 'rejected']++;
          if (skipped && shape !== undefined) {
            direct++;
            verdicts[ours ? 'directAccepted' : 'directRejected']++;
            // Only the shape Airlock writes, checked against P-256 keys alone, skips the Verifier.
            if (!keys.every((k) => k === 'prime256v1')) wrong.push({ v, keys, direct: true });
          }
        }
      }
    } finally {
      spy.mockRestore();
    }
    expect(wrong).toStrictEqual([]);
    // Both paths ran, and each both accepted and rejected.
    expect(direct).toBeGreaterThan(1000);
    expect(verdicts.directAccepted).toBeGreaterThan(10);
    expect(verdicts.directRejected).toBeGreaterThan(1000);
    expect(verdicts.accepted - verdicts.directAccepted).toBeGreaterThan(10);
  });
});
