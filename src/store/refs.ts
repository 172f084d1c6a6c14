import { isDigest, type Digest } from '../core/index.js';
import { descriptorDigests, isOciDocument } from '../oci/index.js';

// A digest inside a longer string ("repo@sha256:…"), not part of a longer hex run.
const DIGEST_IN_TEXT = /(?<![0-9a-f])sha256:[0-9a-f]{64}(?![0-9a-f])/g;

/** Every digest-shaped substring of every string (keys included) anywhere in `value`. */
export function digestStrings(value: unknown): Set<Digest> {
  const found = new Set<Digest>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(DIGEST_IN_TEXT)) found.add(m[0] as Digest);
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) {
        visit(k);
        visit(item);
      }
    }
  };
  visit(value);
  return found;
}

/**
 * The blobs an Airlock document (`"format": "airlock.…"`) declares in its
 * top-level `blobs` list; undefined for anything else. Such documents also
 * hold digests of things that are not blobs (input files, toolchains), so
 * only the declared list counts.
 */
export function declaredBlobs(value: unknown): Set<Digest> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (
    typeof v['format'] !== 'string' ||
    !v['format'].startsWith('airlock.') ||
    !Array.isArray(v['blobs'])
  ) {
    return undefined;
  }
  return new Set(v['blobs'].filter(isDigest));
}

/**
 * The references fsck insists on: descriptors for OCI documents, the declared
 * `blobs` of Airlock documents, every digest-shaped string for anything else.
 */
export function strictReferences(value: unknown): Set<Digest> {
  if (isOciDocument(value)) return descriptorDigests(value);
  return declaredBlobs(value) ?? digestStrings(value);
}

/** False when a media type says the blob is certainly not JSON (layers, tarballs). */
export function mayBeJson(mediaType: string | undefined): boolean {
  if (mediaType === undefined) return true;
  return mediaType.includes('json');
}
