import { isDigest, type Digest } from '../core/index.js';
import { ociError } from './errors.js';

/** An OCI content descriptor: what the store, the registry client and manifests share. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What is wrong with a would-be descriptor: the JSON path of the field and why. */
export interface DescriptorProblem {
  path: string;
  why: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An annotations map checked to hold only strings, or the first problem. */
export function checkStringMap(
  v: unknown,
  path: string,
): { map: Record<string, string> } | { problem: DescriptorProblem } {
  if (!isObject(v)) return { problem: { path, why: 'is not an object' } };
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') return { problem: { path: `${path}.${k}`, why: 'is not a string' } };
  }
  return { map: { ...(v as Record<string, string>) } };
}

/**
 * Validates one descriptor strictly (a non-empty media type, a well-formed
 * digest, a safe non-negative integer size, string annotations) and returns a
 * clean copy without unknown fields, or the first problem found.
 */
export function checkDescriptor(
  value: unknown,
  where: string,
): { descriptor: Descriptor } | { problem: DescriptorProblem } {
  if (!isObject(value)) return { problem: { path: where, why: 'is not an object' } };
  const mediaType = value['mediaType'];
  if (typeof mediaType !== 'string' || mediaType.length === 0)
    return { problem: { path: `${where}.mediaType`, why: 'is missing' } };
  const digest = value['digest'];
  if (!isDigest(digest))
    return {
      problem: {
        path: `${where}.digest`,
        why: `${JSON.stringify(digest)} is not a valid sha256 digest`,
      },
    };
  const size = value['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    return { problem: { path: `${where}.size`, why: 'is not a non-negative integer' } };
  const descriptor: Descriptor = { mediaType, digest, size };
  const artifactType = value['artifactType'];
  if (artifactType !== undefined) {
    if (typeof artifactType !== 'string')
      return { problem: { path: `${where}.artifactType`, why: 'is not a string' } };
    descriptor.artifactType = artifactType;
  }
  if (value['annotations'] !== undefined) {
    const checked = checkStringMap(value['annotations'], `${where}.annotations`);
    if ('problem' in checked) return checked;
    descriptor.annotations = checked.map;
  }
  return { descriptor };
}

/** A clean copy of a descriptor; throws INVALID_DESCRIPTOR naming the field and `where`. */
export function parseDescriptor(value: unknown, where = 'descriptor'): Descriptor {
  const checked = checkDescriptor(value, where);
  if ('descriptor' in checked) return checked.descriptor;
  const { path, why } = checked.problem;
  throw ociError(
    'INVALID_DESCRIPTOR',
    `${path} ${why}`,
    'Pass an OCI descriptor {mediaType, digest, size}.',
    { where, path, why },
  );
}
