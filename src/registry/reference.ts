import { isDigest, type Digest } from '../core/digest.js';
import { registryError } from './errors.js';

/** A parsed `registry/repo[:tag][@digest]` reference. */
export interface RegistryRef {
  /** Host and optional port as the user wrote it (`127.0.0.1:5000`, `ghcr.io`). */
  registry: string;
  /** Repository path inside the registry (`team/app`). */
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** A parsed `oci:<dir>[:tag][@digest]` reference to an OCI image layout directory. */
export interface LayoutRef {
  path: string;
  tag?: string;
  digest?: Digest;
}

const REPO_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOST_RE = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

function bad(input: string, why: string): never {
  throw registryError(
    'INVALID_REFERENCE',
    `${JSON.stringify(input)} is not a valid registry reference: ${why}`,
    'Write a reference as host[:port]/repository[:tag][@sha256:<64 hex>], e.g. ghcr.io/team/app:1.0.',
    { reference: input, reason: why },
  );
}

/** True when `tag` is a valid OCI tag (so it can be placed in a URL path). */
export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Splits `rest` at the '@' found at `at` (if any) into the name and a validated digest. */
function splitDigest(input: string, rest: string, at: number): [string, Digest | undefined] {
  if (at < 0) return [rest, undefined];
  const d = rest.slice(at + 1);
  if (!isDigest(d)) bad(input, `${JSON.stringify(d)} is not sha256: and 64 lowercase hex digits`);
  return [rest.slice(0, at), d];
}

/**
 * Parses and validates a registry reference so that every part is safe to
 * place in a URL; a first component without '.' or ':' (and not localhost)
 * means Docker Hub, as docker and skopeo read it.
 */
export function parseRegistryRef(input: string): RegistryRef {
  const trimmed = input.trim();
  if (trimmed.length === 0) bad(input, 'it is empty');
  if (trimmed.includes('://'))
    bad(input, 'leave out the scheme (use --insecure-registry for http)');
  const [name, digest] = splitDigest(input, trimmed, trimmed.indexOf('@'));
  let rest = name;
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) bad(input, `tag ${JSON.stringify(tag)} is malformed`);
  }
  const parts = rest.split('/');
  let registry: string;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
  } else {
    registry = 'docker.io';
    if (parts.length === 1) parts.unshift('library');
  }
  if (!HOST_RE.test(registry)) bad(input, `registry host ${JSON.stringify(registry)} is malformed`);
  for (const p of parts) {
    if (!REPO_COMPONENT.test(p))
      bad(input, `repository component ${JSON.stringify(p)} is malformed`);
  }
  const ref: RegistryRef = { registry, repository: parts.join('/') };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Parses `oci:<dir>[:tag][@digest]`; the directory may contain '/' but not ':'. */
export function parseLayoutRef(input: string): LayoutRef {
  if (!input.startsWith('oci:')) bad(input, 'an OCI layout reference starts with "oci:"');
  const body = input.slice(4);
  const [name, digest] = splitDigest(input, body, body.lastIndexOf('@'));
  let rest = name;
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) bad(input, `tag ${JSON.stringify(tag)} is malformed`);
  }
  if (rest.length === 0) bad(input, 'the layout directory is empty');
  const ref: LayoutRef = { path: rest };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The canonical text of a reference: `host/repo@digest` when pinned, else `host/repo:tag`. */
export function formatRegistryRef(ref: RegistryRef): string {
  const base = `${ref.registry}/${ref.repository}`;
  if (ref.digest) return `${base}@${ref.digest}`;
  return ref.tag ? `${base}:${ref.tag}` : base;
}
