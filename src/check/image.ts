import { finding, RULES, type Span } from './rules.js';
import type { Finding, Level } from './types.js';

/** An OCI image reference split into its parts. */
export interface ImageRef {
  name: string;
  tag: string | undefined;
  digest: string | undefined;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** Splits `registry/repo:tag@sha256:…`; a ':' before the last '/' is a registry port, not a tag. */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

/** True when the reference carries a well-formed sha256 digest. */
export function hasDigest(ref: string): boolean {
  const d = parseImageRef(ref).digest;
  return d !== undefined && DIGEST_RE.test(d);
}

/**
 * The level an undigested image allows: an exact version tag (`1.2.3`, `22.04`
 * with a date-like minor) still reaches level 2; a missing, `latest` or
 * major-only tag stays at level 1.
 */
export function imageCap(ref: string): Level {
  const { tag } = parseImageRef(ref);
  if (tag === undefined || tag === 'latest' || tag === '') return 1;
  return /^v?\d+\.\d+(\.\d+)?([-_.+][\w.-]+)?$/.test(tag) ? 2 : 1;
}

/** True for values that are not image references we can judge (variables, `scratch`). */
export function isUnjudgeableImage(ref: string): boolean {
  return ref === 'scratch' || ref.includes('$') || ref.includes('{{') || ref.trim() === '';
}

/** The finding for an image reference without a digest, or undefined when it is pinned or unjudgeable. */
export function imageFinding(
  file: string,
  at: Span,
  ref: string,
  where: string,
  capAtMost: Level = 4,
): Finding | undefined {
  if (isUnjudgeableImage(ref) || hasDigest(ref)) return undefined;
  const cap = imageCap(ref);
  const info = cap === 1 ? RULES.imageFloating : RULES.imageNoDigest;
  const { name, tag } = parseImageRef(ref);
  return finding(
    info,
    file,
    at,
    `${where} \`${ref}\` is not pinned by digest${cap === 1 ? ` (tag ${tag === undefined ? 'missing' : `\`${tag}\``} floats)` : ''}`,
    `Pin it: \`${name}:${tag ?? '<version>'}@sha256:<digest>\` — \`airlock pin\` rewrites it in place.`,
    { caps: Math.min(cap, capAtMost) as Level },
  );
}
