import type { Digest } from '../core/index.js';
import type { Descriptor } from './descriptor.js';
import type { Manifest } from './manifest.js';
import { MEDIA } from './media-types.js';

/*
 * Referrers (OCI distribution spec 1.1): an attachment (SBOM, provenance,
 * signature, cache entry) is a manifest whose `subject` is the descriptor of
 * the artifact it describes. Registries without the referrers API, and the
 * local store, list the referrers of sha256:<hex> in an OCI index tagged
 * `sha256-<hex>` (the tag schema):
 *
 *   sha256-9f86…0a08 → {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 *                       "manifests":[{"mediaType":…,"digest":…,"size":…,"artifactType":…}]}
 */

/** The tag-schema fallback tag under which referrers of `digest` are listed (`sha256-<hex>`). */
export function referrersTag(digest: Digest): string {
  return digest.replace(':', '-');
}

/** The artifact type of a manifest: its own, else (for an image manifest) its config media type. */
export function artifactTypeOf(m: Manifest): string | undefined {
  return m.artifactType ?? (m.kind === 'manifest' ? m.config.mediaType : undefined);
}

/** A descriptor for manifest bytes, carrying artifactType and annotations as referrers lists do. */
export function manifestDescriptor(m: Manifest, digest: Digest, size: number): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest, size };
  const at = artifactTypeOf(m);
  if (at !== undefined) d.artifactType = at;
  if (m.annotations !== undefined) d.annotations = m.annotations;
  return d;
}

/** True when a manifest of this media type can carry a `subject` (OCI types only, not Docker's). */
export function canHaveSubject(mediaType: string): boolean {
  return mediaType === MEDIA.ociManifest || mediaType === MEDIA.ociIndex;
}

/** True when `m` is an attachment of `subject`: its own `subject` names that digest. */
export function refersTo(m: Manifest, subject: Digest): boolean {
  return m.subject?.digest === subject;
}

/** The referrers list with `attachment` added once (an earlier entry of the same digest is replaced). */
export function withReferrer(
  manifests: readonly Descriptor[],
  attachment: Descriptor,
): Descriptor[] {
  return [...manifests.filter((d) => d.digest !== attachment.digest), attachment];
}

/** The tag-schema referrers index document listing `manifests`. */
export function referrersIndex(manifests: readonly Descriptor[]): {
  schemaVersion: 2;
  mediaType: typeof MEDIA.ociIndex;
  manifests: Descriptor[];
} {
  return { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [...manifests] };
}
