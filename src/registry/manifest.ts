import { isDigest, type Digest } from '../core/digest.js';
import { registryError } from './errors.js';

import type { Descriptor } from '../core/descriptor.js';
export type { Descriptor };

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

/** Every manifest media type Airlock accepts, in Accept-header order. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA.ociManifest,
  MEDIA.ociIndex,
  MEDIA.dockerManifest,
  MEDIA.dockerList,
];

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
  throw registryError(
    'MANIFEST_INVALID',
    `${reference}: manifest rejected: ${why}`,
    'The registry holds a malformed or ambiguous manifest; re-push it from a trusted source.',
    { reference, reason: why },
  );
}

function stringMap(v: unknown, reference: string, where: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    invalid(reference, `${where} is not an object`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') invalid(reference, `${where}.${k} is not a string`);
  }
  return v as Record<string, string>;
}

/** Validates one descriptor strictly: digest well-formed, size a safe non-negative integer. */
export function parseDescriptor(v: unknown, reference: string, where: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    invalid(reference, `${where} is not an object`);
  const o = v as Record<string, unknown>;
  if (typeof o['mediaType'] !== 'string' || o['mediaType'].length === 0) {
    invalid(reference, `${where}.mediaType is missing`);
  }
  if (!isDigest(o['digest']))
    invalid(
      reference,
      `${where}.digest ${JSON.stringify(o['digest'])} is not a valid sha256 digest`,
    );
  const size = o['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    invalid(reference, `${where}.size is not a non-negative integer`);
  }
  const d: Descriptor = { mediaType: o['mediaType'], digest: o['digest'], size };
  if (o['artifactType'] !== undefined) {
    if (typeof o['artifactType'] !== 'string')
      invalid(reference, `${where}.artifactType is not a string`);
    d.artifactType = o['artifactType'];
  }
  if (o['annotations'] !== undefined)
    d.annotations = stringMap(o['annotations'], reference, `${where}.annotations`);
  return d;
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
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
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
  if (o['subject'] !== undefined)
    common.subject = parseDescriptor(o['subject'], reference, 'subject');
  if (o['annotations'] !== undefined)
    common.annotations = stringMap(o['annotations'], reference, 'annotations');
  if (mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest) {
    if (hasManifests) invalid(reference, `a ${mediaType} has "manifests"`);
    if (!Array.isArray(o['layers'])) invalid(reference, 'layers is not an array');
    return {
      kind: 'manifest',
      mediaType,
      ...common,
      config: parseDescriptor(o['config'], reference, 'config'),
      layers: o['layers'].map((l, i) => parseDescriptor(l, reference, `layers[${i}]`)),
    };
  }
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) {
    if (hasImageFields) invalid(reference, `a ${mediaType} has "config" or "layers"`);
    if (!Array.isArray(o['manifests'])) invalid(reference, 'manifests is not an array');
    return {
      kind: 'index',
      mediaType,
      ...common,
      manifests: o['manifests'].map((m, i) => parseDescriptor(m, reference, `manifests[${i}]`)),
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

/** The tag-schema fallback tag under which referrers of `digest` are listed (`sha256-<hex>`). */
export function referrersTag(digest: Digest): string {
  return digest.replace(':', '-');
}
