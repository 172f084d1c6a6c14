import { sign as cryptoSign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical.js';
import { isAirlockError } from '../core/errors.js';
import {
  CACHE_SIGNATURE_PAYLOAD_TYPE,
  decodePrivateKey,
  decodePublicKey,
  encodeKeyPair,
  generateSigningKey,
  pae,
  pemDecode,
  signCacheEntry,
  verifyCacheEntry,
} from './index.js';

// A key pair written by cosign itself (N=65536, empty password), published as a
// test fixture in the conforma/cli repository (Go tests of its VSA signer).
const COSIGN_KEY = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJLYU9OQzduQVJLOVgxM1FoaWFucjAwTTBGYys2Sitr
dnAxN1FuanpiVk9nPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJVOHZqWWtqMlZOUFZGdlZFZWZ3bXZ5VGloUERrelBoaCJ9LCJj
aXBoZXJ0ZXh0IjoidWNWMnQ4TTZVNFJvb29FOXc0d3dkc3E1RDYrS2RKY245dERT
KzFwRDRGN040SVJOWEgzSTBua3h1a3NackFOUHR1emIvTkVYQ201dUp3Zjh3Qzl1
VlprbXdwNU5jRUZ6b3ZNS3JCZmNvdXdjaEkrMzkrQ0NhbVZPbzBucmRnZjhvcmpK
dXdrWDBYL1phY0RUTERGaUxyc1laMWVMMmlqMGU1MVRpZmVQNTl4WXNPK1FnM1Jv
OURRVjNQMk9ndDFDaVFHeGg1VXhUZytGc3c9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
`;
// Its public half, as `openssl pkey -pubout` prints it for the decrypted key.
const COSIGN_PUB = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEMk2x2CCtYaFNteFO9CDuOMyDP54D
5+gXKKweldxuaq7Ns+3RIZDb/7fSkae3hDK7/ZdvR46/U6mvcFyncxHHSQ==
-----END PUBLIC KEY-----
`;

const KEY = `sha256:${'a'.repeat(64)}` as const;
const RESULT = `sha256:${'b'.repeat(64)}` as const;

describe('cosign key files', () => {
  it('decrypts a private key written by cosign and finds its public key', async () => {
    const key = await decodePrivateKey(COSIGN_KEY, '');
    expect(key.publicKey.export({ type: 'spki', format: 'pem' })).toBe(COSIGN_PUB);
    expect(key.keyId).toBe(decodePublicKey(COSIGN_PUB).keyId);
  });

  it('rejects a wrong password with KEY_PASSWORD and never echoes it', async () => {
    const err: unknown = await decodePrivateKey(COSIGN_KEY, 'hunter2-secret').catch(
      (e: unknown) => e,
    );
    expect(isAirlockError(err, 'KEY_PASSWORD')).toBe(true);
    expect(String((err as Error).message)).not.toContain('hunter2');
  });

  it('writes keys in cosign layout: scrypt N=65536 r=8 p=1, 32-byte salt, 24-byte nonce, PKCS#8 inside', async () => {
    const key = generateSigningKey();
    const files = await encodeKeyPair(key, 'pw');
    expect(files.privatePem.startsWith('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n')).toBe(
      true,
    );
    expect(files.privatePem.split('\n').every((l) => l.length <= 64)).toBe(true);
    const body = pemDecode(files.privatePem, 'key').der.toString('utf8');
    expect(body).toMatch(
      /^\{"kdf":\{"name":"scrypt","params":\{"N":65536,"r":8,"p":1\},"salt":"[^"]+"\},"cipher":\{"name":"nacl\/secretbox","nonce":"[^"]+"\},"ciphertext":"[^"]+"\}$/,
    );
    const doc = JSON.parse(body) as { kdf: { salt: string }; cipher: { nonce: string } };
    expect(Buffer.from(doc.kdf.salt, 'base64')).toHaveLength(32);
    expect(Buffer.from(doc.cipher.nonce, 'base64')).toHaveLength(24);
    const back = await decodePrivateKey(files.privatePem, 'pw');
    expect(back.keyId).toBe(key.keyId);
    expect(decodePublicKey(files.publicPem).keyId).toBe(key.keyId);
  });

  it('refuses a public key that is not P-256', () => {
    const rsa = `-----BEGIN PUBLIC KEY-----
MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMo0dHAqfy3ufgnv0k8CIUhwBjhcQ4nr
DHLY2ScT7KoCc3Bo5v3kGcnbFnK4XdObvmoXStcIdpfKj6pYNeHWl+8CAwEAAQ==
-----END PUBLIC KEY-----
`;
    expect(() => decodePublicKey(rsa)).toThrow(/not an ECDSA P-256 key/);
  });
});

describe('DSSE', () => {
  it('encodes PAE as the DSSE spec example does', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });
});

describe('verifyCacheEntry', () => {
  const builder = generateSigningKey();
  const trusted = [{ publicKey: builder.publicKey, keyId: builder.keyId }];

  it('accepts an entry signed by a trusted builder for this key and result', () => {
    const env = signCacheEntry(builder, KEY, RESULT);
    expect(verifyCacheEntry(env, { actionKey: KEY, result: RESULT }, trusted)).toEqual({
      ok: true,
      keyId: builder.keyId,
    });
  });

  it('refuses an unsigned entry', () => {
    expect(verifyCacheEntry(undefined, { actionKey: KEY, result: RESULT }, trusted)).toMatchObject({
      ok: false,
      reason: 'it is not signed',
    });
  });

  it('refuses an entry signed by an untrusted key, naming that key', () => {
    const attacker = generateSigningKey();
    const v = verifyCacheEntry(
      signCacheEntry(attacker, KEY, RESULT),
      { actionKey: KEY, result: RESULT },
      trusted,
    );
    expect(v.ok).toBe(false);
    expect(v.ok ? '' : v.reason).toContain(attacker.keyId);
  });

  it('refuses a trusted signature made for another action key or another result', () => {
    const other = `sha256:${'c'.repeat(64)}` as const;
    expect(
      verifyCacheEntry(
        signCacheEntry(builder, other, RESULT),
        { actionKey: KEY, result: RESULT },
        trusted,
      ),
    ).toMatchObject({ ok: false, reason: expect.stringContaining('action key') });
    expect(
      verifyCacheEntry(
        signCacheEntry(builder, KEY, other),
        { actionKey: KEY, result: RESULT },
        trusted,
      ),
    ).toMatchObject({ ok: false, reason: expect.stringContaining('result') });
  });

  it('refuses a signature made over the raw payload instead of the PAE', () => {
    const payload = Buffer.from(
      canonicalJson({
        actionKey: KEY,
        builder: { keyId: builder.keyId },
        format: 'airlock.cache-signature/v1',
        result: RESULT,
      }),
    );
    const env = {
      payloadType: CACHE_SIGNATURE_PAYLOAD_TYPE,
      payload: payload.toString('base64'),
      signatures: [
        {
          keyid: builder.keyId,
          sig: cryptoSign('sha256', payload, builder.privateKey).toString('base64'),
        },
      ],
    };
    expect(
      verifyCacheEntry(
        Buffer.from(JSON.stringify(env)),
        { actionKey: KEY, result: RESULT },
        trusted,
      ).ok,
    ).toBe(false);
  });

  it('refuses a payload swapped under a valid signature', () => {
    const env = JSON.parse(signCacheEntry(builder, KEY, RESULT).toString()) as { payload: string };
    const swapped = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as Record<
      string,
      unknown
    >;
    swapped.result = `sha256:${'d'.repeat(64)}`;
    env.payload = Buffer.from(canonicalJson(swapped)).toString('base64');
    expect(
      verifyCacheEntry(
        Buffer.from(JSON.stringify(env)),
        { actionKey: KEY, result: `sha256:${'d'.repeat(64)}` },
        trusted,
      ).ok,
    ).toBe(false);
  });
});

describe('a key pair written by cosign', () => {
  it('signs Sigstore bundles that verify against its cosign public key, and against no other', async () => {
    const { localKeySigner, signDsseBundle, verifyBundle, generateSigningKey } =
      await import('./index.js');
    const key = await decodePrivateKey(COSIGN_KEY, '');
    const bundle = Buffer.from(
      JSON.stringify(
        await signDsseBundle(
          Buffer.from('{}'),
          'application/vnd.in-toto+json',
          localKeySigner(key),
        ),
      ),
    );
    expect(verifyBundle(bundle, [decodePublicKey(COSIGN_PUB)]).keyId).toBe(key.keyId);
    expect(() => verifyBundle(bundle, [generateSigningKey()])).toThrow(
      expect.objectContaining({ code: 'BUNDLE_UNTRUSTED' }),
    );
  });
});
