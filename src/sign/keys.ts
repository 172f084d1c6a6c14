import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scrypt,
  type KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';
import { sha256, type Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { SignErrorCode } from './errors.js';

/*
 * Key files in cosign's formats, so that `cosign generate-key-pair` output
 * works here and `airlock keygen` output works with cosign:
 *
 *   cosign.pub   -----BEGIN PUBLIC KEY-----                  SPKI DER of an ECDSA P-256 key
 *   cosign.key   -----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
 *                base64 of the JSON (Go's encoding/json field order, []byte as std base64):
 *                {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<32 bytes>"},
 *                 "cipher":{"name":"nacl/secretbox","nonce":"<24 bytes>"},
 *                 "ciphertext":"<secretbox(PKCS#8 DER) with key = scrypt(password, salt, 32)>"}
 *
 * Older cosign wrote the same body under ENCRYPTED COSIGN PRIVATE KEY; it is read too.
 */

export const PRIVATE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
const LEGACY_PRIVATE_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';
export const PUBLIC_KEY_PEM = 'PUBLIC KEY';

const SCRYPT = { N: 65536, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const KEY_BYTES = 32;
/** Biggest N a key file may ask for: N=2^20 costs 1 GiB of memory, anything above is an attack. */
const MAX_SCRYPT_N = 1 << 20;

/** A loaded ECDSA P-256 key pair (the private half never leaves this object unencrypted). */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** sha256 of the public key's SPKI DER. */
  keyId: Digest;
}

/** A trusted public key and its id. */
export interface PublicKeyInfo {
  publicKey: KeyObject;
  keyId: Digest;
}

const keyError = (
  code: SignErrorCode,
  message: string,
  hint: string,
): AirlockError<SignErrorCode> => new AirlockError<SignErrorCode>(code, message, { hint });

/** The key id Airlock shows for a public key: the sha256 of its SPKI DER. */
export function keyIdOf(publicKey: KeyObject): Digest {
  return sha256(publicKey.export({ type: 'spki', format: 'der' }));
}

/** Encodes `der` as a PEM block of `label` with 64-character lines (Go's encoding/pem). */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The one PEM block of `text`: its label and bytes; anything else is KEY_INVALID. */
export function pemDecode(text: string, what: string): { label: string; der: Buffer } {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END \1-----/.exec(
    text,
  );
  if (!m) {
    throw keyError(
      'KEY_INVALID',
      `${what} is not a PEM file`,
      'Give a key written by `airlock keygen` or `cosign generate-key-pair`.',
    );
  }
  return { label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') };
}

function deriveKey(
  password: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  // 128 * N * r bytes, plus slack: Node refuses N=65536 with its default 32 MiB limit.
  const maxmem = 128 * params.N * params.r * 2 + 16 * 1024 * 1024;
  return new Promise((resolve, reject) =>
    scrypt(Buffer.from(password, 'utf8'), salt, KEY_BYTES, { ...params, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** A fresh ECDSA P-256 key pair. */
export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

/** The cosign-format encrypted private key file (PEM) and public key file of `key`. */
export async function encodeKeyPair(
  key: SigningKey,
  password: string,
): Promise<{ privatePem: string; publicPem: string }> {
  const der = key.privateKey.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(nacl.secretbox.nonceLength);
  const box = nacl.secretbox(der, nonce, await deriveKey(password, salt, SCRYPT));
  // Field order and compact form as Go's encoding/json writes them.
  const body = JSON.stringify({
    kdf: {
      name: 'scrypt',
      params: { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p },
      salt: salt.toString('base64'),
    },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(box).toString('base64'),
  });
  return {
    privatePem: pemEncode(PRIVATE_KEY_PEM, Buffer.from(body, 'utf8')),
    publicPem: pemEncode(PUBLIC_KEY_PEM, key.publicKey.export({ type: 'spki', format: 'der' })),
  };
}

const b64Field = (v: unknown, what: string, bytes?: number): Buffer => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
    throw keyError(
      'KEY_INVALID',
      `the private key's ${what} is not base64`,
      'The key file is damaged; use an intact copy.',
    );
  const buf = Buffer.from(v, 'base64');
  if (bytes !== undefined && buf.byteLength !== bytes)
    throw keyError(
      'KEY_INVALID',
      `the private key's ${what} is ${buf.byteLength} bytes, not ${bytes}`,
      'The key file is damaged; use an intact copy.',
    );
  return buf;
};

/**
 * Decrypts a cosign-format private key file with `password`. A wrong
 * password is KEY_PASSWORD; a key that is not ECDSA P-256 is KEY_UNSUPPORTED.
 * The password and key bytes never appear in an error.
 */
export async function decodePrivateKey(
  pem: string,
  password: string,
  what = 'the private key',
): Promise<SigningKey> {
  const { label, der } = pemDecode(pem, what);
  if (label !== PRIVATE_KEY_PEM && label !== LEGACY_PRIVATE_KEY_PEM) {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${what} is a PEM "${label}", not an encrypted cosign private key`,
      'Give the cosign.key written by `airlock keygen` or `cosign generate-key-pair`.',
    );
  }
  let doc: {
    kdf?: { name?: unknown; params?: { N?: unknown; r?: unknown; p?: unknown }; salt?: unknown };
    cipher?: { name?: unknown; nonce?: unknown };
    ciphertext?: unknown;
  };
  try {
    doc = JSON.parse(der.toString('utf8')) as typeof doc;
  } catch {
    throw keyError(
      'KEY_INVALID',
      `${what} does not hold cosign's encrypted-key JSON`,
      'The key file is damaged; use an intact copy.',
    );
  }
  const params = doc.kdf?.params;
  const { N, r, p } = params ?? {};
  const int = (v: unknown): v is number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
  if (
    doc.kdf?.name !== 'scrypt' ||
    !int(N) ||
    !int(r) ||
    !int(p) ||
    N > MAX_SCRYPT_N ||
    r > 32 ||
    p > 16
  ) {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${what} uses an unsupported key derivation`,
      'Re-create the key with `airlock keygen` (scrypt N=65536 r=8 p=1).',
    );
  }
  if (doc.cipher?.name !== 'nacl/secretbox') {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${what} uses an unsupported cipher`,
      'Re-create the key with `airlock keygen` (nacl/secretbox).',
    );
  }
  const salt = b64Field(doc.kdf.salt, 'salt');
  const nonce = b64Field(doc.cipher.nonce, 'nonce', nacl.secretbox.nonceLength);
  const box = b64Field(doc.ciphertext, 'ciphertext');
  const opened = nacl.secretbox.open(box, nonce, await deriveKey(password, salt, { N, r, p }));
  if (!opened) {
    throw keyError(
      'KEY_PASSWORD',
      `${what} cannot be decrypted: wrong password`,
      'Set AIRLOCK_PASSWORD (or COSIGN_PASSWORD) to the password the key was made with.',
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(opened), format: 'der', type: 'pkcs8' });
  } catch {
    throw keyError(
      'KEY_INVALID',
      `${what} does not decrypt to a PKCS#8 key`,
      'The key file is damaged; use an intact copy.',
    );
  }
  assertP256(privateKey, what);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

/** Reads a PEM `PUBLIC KEY` (SPKI) file; only ECDSA P-256 keys are accepted. */
export function decodePublicKey(pem: string, what = 'the public key'): PublicKeyInfo {
  const { label, der } = pemDecode(pem, what);
  if (label !== PUBLIC_KEY_PEM) {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${what} is a PEM "${label}", not a PUBLIC KEY`,
      'Give the cosign.pub written by `airlock keygen` or `cosign generate-key-pair`.',
    );
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw keyError(
      'KEY_INVALID',
      `${what} is not a valid SPKI public key`,
      'The key file is damaged; use an intact copy.',
    );
  }
  assertP256(publicKey, what);
  return { publicKey, keyId: keyIdOf(publicKey) };
}

function assertP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw keyError(
      'KEY_UNSUPPORTED',
      `${what} is not an ECDSA P-256 key`,
      'Airlock signs with ECDSA P-256 keys, as `cosign generate-key-pair` makes them.',
    );
  }
}
