import { createHash, hash, type Hash } from 'node:crypto';
import { AirlockError } from './errors.js';

/** A content digest in the OCI form: `sha256:` and 64 lowercase hex digits. */
export type Digest = `sha256:${string}`;

export type DigestErrorCode = 'INVALID_DIGEST';

/** Content whose size differs from what its descriptor says (store and registry alike). */
export type ContentErrorCode = 'SIZE_MISMATCH';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True when `value` is a well-formed sha256 digest (lowercase hex, exact length). */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/**
 * Validates `value` as a digest at a boundary; throws INVALID_DIGEST naming
 * `where` so a digest string is never used in a path or URL unchecked.
 */
export function parseDigest(value: unknown, where = 'input'): Digest {
  if (isDigest(value)) return value;
  throw new AirlockError<DigestErrorCode>(
    'INVALID_DIGEST',
    `${where}: ${JSON.stringify(value)} is not a valid digest`,
    { hint: 'A digest is "sha256:" followed by exactly 64 lowercase hex digits.' },
  );
}

/** The 64 hex digits of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The digest of some bytes or of a UTF-8 string. */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${hash('sha256', data, 'hex')}`; // one-shot: no Hash object per call
}

/** An incremental hasher that also counts bytes. */
export class DigestHasher {
  private readonly hash: Hash = createHash('sha256');
  size = 0;

  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    this.size += chunk.byteLength;
    return this;
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
