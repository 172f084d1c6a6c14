import { canonicalJson } from '../core/canonical.js';
import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import {
  MEDIA,
  parseManifest,
  referrersIndex,
  referrersTag,
  withReferrer,
  type Descriptor,
} from '../oci/index.js';
import { localReferrers } from '../registry/index.js';
import { BUNDLE_MEDIA_TYPE } from '../sign/index.js';
import type { Store } from '../store/index.js';

/*
 * Signed attestations live beside their artifact in the store as OCI
 * referrers, in the shape cosign and GitHub use for Sigstore bundles:
 *
 *   manifest {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 *             "artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json",
 *             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136f…","size":2},
 *             "layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":…,"size":…}],
 *             "subject":{<the artifact's manifest descriptor>},
 *             "annotations":{"dev.sigstore.bundle.predicateType":"https://slsa.dev/provenance/v1"}}
 *
 * listed in the artifact's `sha256-<hex>` referrers index. Filter with
 * `--artifact-type application/vnd.dev.sigstore.bundle.v0.3+json`; the
 * annotation says which statement a bundle carries. Signing again replaces
 * the bundle of the same predicate type in the index (no tag per bundle, so
 * nothing is left behind; the old blobs go at the next gc).
 */

export const BUNDLE_ARTIFACT_TYPE = BUNDLE_MEDIA_TYPE;
export const PREDICATE_TYPE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
const EMPTY_CONFIG = Buffer.from('{}');

/** Attaches `bundle` (about `predicateType`) to `subject`, replacing an earlier bundle of that type. */
export async function attachBundle(
  store: Store,
  subject: Descriptor,
  bundle: Uint8Array,
  predicateType: string,
): Promise<Descriptor> {
  return attach(store, subject, bundle, BUNDLE_ARTIFACT_TYPE, BUNDLE_MEDIA_TYPE, predicateType);
}

/**
 * Stores `bytes` as the one layer of an artifact manifest about `subject`
 * and lists it in the subject's referrers, replacing an earlier attachment
 * of the same artifact type and predicate type (unless `keepEarlier`:
 * audit checkpoints accumulate).
 */
export async function attach(
  store: Store,
  subject: Descriptor,
  bytes: Uint8Array,
  artifactType: string,
  layerMediaType: string,
  predicateType: string,
  keepEarlier = false,
): Promise<Descriptor> {
  const layer = await store.putBytes(bytes);
  const config = await store.putBytes(EMPTY_CONFIG);
  const annotations = { [PREDICATE_TYPE_ANNOTATION]: predicateType };
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    artifactType,
    config: { mediaType: MEDIA.ociEmpty, digest: config.digest, size: config.size },
    layers: [{ mediaType: layerMediaType, digest: layer.digest, size: layer.size }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  const put = await store.putBytes(Buffer.from(canonicalJson(manifest)));
  const desc: Descriptor = {
    mediaType: MEDIA.ociManifest,
    digest: put.digest,
    size: put.size,
    artifactType,
    annotations: { ...annotations },
  };
  await replaceReferrer(
    store,
    subject.digest,
    desc,
    (d) =>
      !keepEarlier &&
      d.artifactType === artifactType &&
      d.annotations?.[PREDICATE_TYPE_ANNOTATION] === predicateType,
  );
  return desc;
}

/** Rewrites the `sha256-<hex>` index of `subject`: entries `superseded` says go, `attachment` comes in. */
async function replaceReferrer(
  store: Store,
  subject: Digest,
  attachment: Descriptor,
  superseded: (d: Descriptor) => boolean,
): Promise<void> {
  const tag = referrersTag(subject);
  const current = await store.resolveTag(tag);
  let manifests: Descriptor[] = [];
  if (current) {
    const m = parseManifest(await store.getBytes(current.digest), current.mediaType, tag);
    if (m.kind === 'index') manifests = m.manifests;
  }
  const kept = manifests.filter((d) => d.digest === attachment.digest || !superseded(d));
  const list = withReferrer(kept, attachment).sort((a, b) => compareBytes(a.digest, b.digest));
  const doc = referrersIndex(list);
  const put = await store.putBytes(Buffer.from(JSON.stringify(doc)));
  await store.setTag(tag, { mediaType: doc.mediaType, digest: put.digest, size: put.size });
}

/** The Sigstore bundle attachments of `subject` in the store. */
export async function bundleAttachments(store: Store, subject: Digest): Promise<Descriptor[]> {
  return (await localReferrers(store, subject)).filter(
    (d) => d.artifactType === BUNDLE_ARTIFACT_TYPE,
  );
}

/** The artifact type of an unsigned in-toto statement waiting for `airlock sign`. */
export const STATEMENT_ARTIFACT_TYPE = 'application/vnd.in-toto+json';

/**
 * Attaches an unsigned statement (a reproducibility or test-result
 * attestation) to `subject`, replacing an earlier one of the same predicate
 * type; `airlock sign` signs it with the rest of the evidence.
 */
export async function attachStatement(
  store: Store,
  subject: Descriptor,
  statement: { predicateType: string },
): Promise<Descriptor> {
  const bytes = Buffer.from(canonicalJson(statement));
  const type = STATEMENT_ARTIFACT_TYPE;
  return attach(store, subject, bytes, type, type, statement.predicateType);
}
