import { isDigest, type Digest } from '../core/index.js';
import { checkDescriptor, checkStringMap, type Descriptor } from './descriptor.js';
import { ociError } from './errors.js';
import { MANIFEST_MEDIA_TYPES, MEDIA } from './media-types.js';

/** An image or artifact manifest. */
export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An image index (or Docker manifest list). */
export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type Manifest = ImageManifest | ImageIndex;

/** Largest manifest Airlock reads (the distribution spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function invalid(reference: string, why: string): never {
  throw ociError(
    'MANIFEST_INVALID',
    `${reference}: manifest rejected: ${why}`,
    'The registry holds a malformed or ambiguous manifest; re-push it from a trusted source.',
    { reference, reason: why },
  );
}

function descriptorAt(v: unknown, reference: string, where: string): Descriptor {
  const checked = checkDescriptor(v, where);
  if ('problem' in checked) invalid(reference, `${checked.problem.path} ${checked.problem.why}`);
  return checked.descriptor;
}

function stringMapAt(v: unknown, reference: string, where: string): Record<string, string> {
  const checked = checkStringMap(v, where);
  if ('problem' in checked) invalid(reference, `${checked.problem.path} ${checked.problem.why}`);
  return checked.map;
}

/**
 * Parses manifest bytes strictly by media type: the Content-Type and the
 * document's own `mediaType` must agree, and a document that could be read
 * both as a manifest and as an index is rejected (CVE-2021-41190).
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | undefined,
  reference: string,
): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    invalid(reference, `larger than ${MAX_MANIFEST_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
    );
  } catch {
    invalid(reference, 'not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    invalid(reference, 'not a JSON object');
  const o = doc as Record<string, unknown>;
  const declared = o['mediaType'];
  if (declared !== undefined && typeof declared !== 'string')
    invalid(reference, 'mediaType is not a string');
  const header = contentType?.split(';')[0]?.trim();
  const headerKnown = header !== undefined && MANIFEST_MEDIA_TYPES.includes(header);
  if (declared !== undefined && headerKnown && declared !== header) {
    invalid(reference, `Content-Type ${header} disagrees with mediaType ${declared}`);
  }
  const mediaType = declared ?? (headerKnown ? header : undefined);
  if (mediaType === undefined)
    invalid(reference, 'no media type in the document or the Content-Type');
  if (o['schemaVersion'] !== 2) invalid(reference, 'schemaVersion is not 2');
  const hasManifests = 'manifests' in o;
  const hasImageFields = 'config' in o || 'layers' in o;
  if (hasManifests && hasImageFields)
    invalid(reference, 'ambiguous: has both "manifests" and "config"/"layers"');
  const common: {
    artifactType?: string;
    subject?: Descriptor;
    annotations?: Record<string, string>;
  } = {};
  if (o['artifactType'] !== undefined) {
    if (typeof o['artifactType'] !== 'string') invalid(reference, 'artifactType is not a string');
    common.artifactType = o['artifactType'];
  }
  if (o['subject'] !== undefined) common.subject = descriptorAt(o['subject'], reference, 'subject');
  if (o['annotations'] !== undefined)
    common.annotations = stringMapAt(o['annotations'], reference, 'annotations');
  if (mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest) {
    if (hasManifests) invalid(reference, `a ${mediaType} has "manifests"`);
    if (!Array.isArray(o['layers'])) invalid(reference, 'layers is not an array');
    return {
      kind: 'manifest',
      mediaType,
      ...common,
      config: descriptorAt(o['config'], reference, 'config'),
      layers: o['layers'].map((l, i) => descriptorAt(l, reference, `layers[${i}]`)),
    };
  }
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) {
    if (hasImageFields) invalid(reference, `a ${mediaType} has "config" or "layers"`);
    if (!Array.isArray(o['manifests'])) invalid(reference, 'manifests is not an array');
    return {
      kind: 'index',
      mediaType,
      ...common,
      manifests: o['manifests'].map((m, i) => descriptorAt(m, reference, `manifests[${i}]`)),
    };
  }
  return invalid(reference, `unsupported media type ${mediaType}`);
}

/** The blobs and child manifests a manifest points at (not its subject). */
export function childrenOf(m: Manifest): { blobs: Descriptor[]; manifests: Descriptor[] } {
  return m.kind === 'manifest'
    ? { blobs: [m.config, ...m.layers], manifests: [] }
    : { blobs: [], manifests: m.manifests };
}

/** True for a JSON document shaped like an OCI (or Docker v2) manifest or index. */
export function isOciDocument(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return v['schemaVersion'] === 2 && ('manifests' in v || 'layers' in v || 'config' in v);
}

/**
 * The digests of the descriptors (objects with a mediaType and a valid digest)
 * in an OCI document, skipping annotation values, which may name foreign digests.
 */
export function descriptorDigests(value: unknown): Set<Digest> {
  const found = new Set<Digest>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const item of v) visit(item);
    } else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o['mediaType'] === 'string' && isDigest(o['digest'])) found.add(o['digest']);
      for (const [k, item] of Object.entries(o)) if (k !== 'annotations') visit(item);
    }
  };
  visit(value);
  return found;
}
