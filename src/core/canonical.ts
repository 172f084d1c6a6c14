import canonicalize from 'canonicalize';
import { sha256, type Digest } from './digest.js';

/** RFC 8785 canonical JSON of `value`: the only form Airlock hashes or signs. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON form');
  return text;
}

/** The digest of the canonical JSON of `value`. */
export function digestJson(value: unknown): Digest {
  return sha256(canonicalJson(value));
}
