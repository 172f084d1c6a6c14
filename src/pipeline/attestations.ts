import { canonicalJson } from '../core/canonical.js';
import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import { PREDICATE_NAME, PREDICATE_TYPE_ANNOTATION } from '../attest/statement.js';
import {
  MEDIA,
  parseManifest,
  referrersIndex,
  referrersTag,
  withReferrer,
  type Descriptor,
} from '../oci/index.js';
import { localReferrers } from '../registry/index.js';
import type { Store } from '../store/index.js';

/*
 * Signed attestations live beside their artifact in the store as OCI
 * referrers, in the shape cosign and GitHub use for Sigstore bundles, with
 * an artifact type per predicate type so a referrers listing can be filtered
 * on one kind of evidence:
 *
 *   manifest {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 *             "artifactType":"application/vnd.airlock.slsa-provenance.sigstore-bundle.v0.3+json",
 *             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136f…","size":2},
 *             "layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":…,"size":…}],
 *             "subject":{<the artifact's manifest descriptor>},
 *             "annotations":{"dev.sigstore.bundle.predicateType":"https://slsa.dev/provenance/v1"}}
 *
 * listed in the artifact's `sha256-<hex>` referrers index. The artifact type
 * is `application/vnd.airlock.<name>.sigstore-bundle.v0.3+json` for a signed
 * bundle and `application/vnd.airlock.<name>.in-toto+json` for an unsigned
 * statement waiting for `airlock sign`, where <name> is the policy's name of
 * the predicate (slsa-provenance, cyclonedx, spdx, test-result,
 * reproducibility; `other` for any other predicate type, which the
 * annotation names). Attachments written before this scheme carry the shared
 * types `application/vnd.dev.sigstore.bundle.v0.3+json` and
 * `application/vnd.in-toto+json`: they are still read, and attaching again
 * replaces them. Attaching replaces the earlier attachment of the same kind
 * and predicate type in the index (no tag per attachment, so nothing is left
 * behind; the old blobs go at the next gc).
 */

/** The artifact type every bundle shared before the per-predicate types (still read). */
export const LEGACY_BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/**
 * The media type of a Sigstore bundle v0.3 (sign/'s BUNDLE_MEDIA_TYPE, written
 * out so that attaching unsigned evidence at build time loads no signing code).
 */
const BUNDLE_MEDIA_TYPE = LEGACY_BUNDLE_ARTIFACT_TYPE;
/** The artifact type every unsigned statement shared before the per-predicate types (still read). */
export const LEGACY_STATEMENT_ARTIFACT_TYPE = 'application/vnd.in-toto+json';
export { PREDICATE_TYPE_ANNOTATION };
const EMPTY_CONFIG = Buffer.from('{}');
const PREFIX = 'application/vnd.airlock.';
const BUNDLE_SUFFIX = '.sigstore-bundle.v0.3+json';
const STATEMENT_SUFFIX = '.in-toto+json';

const nameOf = (predicateType: string): string => PREDICATE_NAME[predicateType] ?? 'other';

/** The artifact type of a signed bundle about `predicateType`. */
export function bundleArtifactType(predicateType: string): string {
  return `${PREFIX}${nameOf(predicateType)}${BUNDLE_SUFFIX}`;
}

/** The artifact type of an unsigned statement about `predicateType`. */
export function statementArtifactType(predicateType: string): string {
  return `${PREFIX}${nameOf(predicateType)}${STATEMENT_SUFFIX}`;
}

/** Whether an attachment of `artifactType` holds a Sigstore bundle (either scheme). */
export function isBundleArtifactType(artifactType: string | undefined): boolean {
  return (
    artifactType === LEGACY_BUNDLE_ARTIFACT_TYPE ||
    (artifactType?.startsWith(PREFIX) === true && artifactType.endsWith(BUNDLE_SUFFIX))
  );
}

/** Whether an attachment of `artifactType` holds an unsigned in-toto statement (either scheme). */
export function isStatementArtifactType(artifactType: string | undefined): boolean {
  return (
    artifactType === LEGACY_STATEMENT_ARTIFACT_TYPE ||
    (artifactType?.startsWith(PREFIX) === true && artifactType.endsWith(STATEMENT_SUFFIX))
  );
}

/** Attaches `bundle` (about `predicateType`) to `subject`, replacing an earlier bundle of that type. */
export async function attachBundle(
  store: Store,
  subject: Descriptor,
  bundle: Uint8Array,
  predicateType: string,
): Promise<Descriptor> {
  const type = bundleArtifactType(predicateType);
  // A signed bundle also supersedes the unsigned statement of its predicate type.
  const supersedes = (t: string | undefined): boolean =>
    isBundleArtifactType(t) || isStatementArtifactType(t);
  return attach(store, subject, bundle, type, BUNDLE_MEDIA_TYPE, predicateType, supersedes);
}

/**
 * Stores `bytes` as the one layer of an artifact manifest about `subject`
 * and lists it in the subject's referrers, replacing an earlier attachment
 * of the same kind (`sameKind`, either scheme) and predicate type; audit
 * checkpoints pass a `sameKind` that matches nothing, so they accumulate.
 */
export async function attach(
  store: Store,
  subject: Descriptor,
  bytes: Uint8Array,
  artifactType: string,
  layerMediaType: string,
  predicateType: string,
  sameKind: (artifactType: string | undefined) => boolean,
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
    (d) => sameKind(d.artifactType) && d.annotations?.[PREDICATE_TYPE_ANNOTATION] === predicateType,
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

/** The Sigstore bundle attachments of `subject` in the store (per-predicate and legacy types). */
export async function bundleAttachments(store: Store, subject: Digest): Promise<Descriptor[]> {
  return (await localReferrers(store, subject)).filter((d) => isBundleArtifactType(d.artifactType));
}

/** The unsigned statement attachments of `subject` in the store (per-predicate and legacy types). */
export async function statementAttachments(store: Store, subject: Digest): Promise<Descriptor[]> {
  return (await localReferrers(store, subject)).filter((d) =>
    isStatementArtifactType(d.artifactType),
  );
}

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
  const type = statementArtifactType(statement.predicateType);
  return attach(
    store,
    subject,
    bytes,
    type,
    LEGACY_STATEMENT_ARTIFACT_TYPE,
    statement.predicateType,
    isStatementArtifactType,
  );
}
