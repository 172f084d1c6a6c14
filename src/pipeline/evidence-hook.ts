import { PREDICATE, PREDICATE_TYPE_ANNOTATION } from '../attest/statement.js';
import type { AfterBuild } from '../builder/context.js';
import type { Digest } from '../core/digest.js';
import type { EventSink } from '../core/events.js';
import { parseManifest, referrersTag } from '../oci/index.js';
import type { OpenWorkspace } from './context.js';

/**
 * The build's after-build hook for evidence: a target restored from the
 * cache whose artifact already carries provenance is left as it is, so a
 * no-op build loads none of the SBOM and signing libraries, and reads no
 * referrers index it has seen before (build.sqlite notes, by digest, the
 * indexes that list provenance); any other target gets its evidence attached
 * (evidence.ts, loaded on first use).
 */
export function evidenceHook(
  open: OpenWorkspace,
  events: EventSink,
  opts: { builderId?: string | undefined } = {},
): (done: AfterBuild) => Promise<void> {
  let hook: Promise<(done: AfterBuild) => Promise<void>> | undefined;
  return async (done) => {
    if (done.cached && (await hasProvenance(open, done.build.manifest.digest))) return;
    hook ??= import('./evidence.js').then((m) => m.evidenceAfterBuild(open, events, opts));
    await (
      await hook
    )(done);
  };
}

/** True when the artifact's referrers index lists a provenance statement. */
async function hasProvenance(open: OpenWorkspace, artifact: Digest): Promise<boolean> {
  // Evidence is attached through the subject's referrers index: one tag, one small blob.
  const idx = await open.store.resolveTag(referrersTag(artifact));
  if (!idx) return false;
  if (open.records.listsProvenance(idx.digest)) return true;
  const m = parseManifest(await open.store.getBytes(idx.digest), idx.mediaType, idx.digest);
  const present =
    m.kind === 'index' &&
    m.manifests.some(
      (d) => d.annotations?.[PREDICATE_TYPE_ANNOTATION] === PREDICATE.slsaProvenance,
    );
  if (present) open.records.noteProvenance(idx.digest);
  return present;
}
