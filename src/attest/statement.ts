import { AirlockError } from '../core/errors.js';
import { digestHex, type Digest } from '../core/digest.js';
import type { AttestErrorCode } from './errors.js';

/*
 * in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md):
 *
 *   {"_type":"https://in-toto.io/Statement/v1",
 *    "subject":[{"name":"demo/web","digest":{"sha256":"9f86…0a08"}}],
 *    "predicateType":"https://slsa.dev/provenance/v1",
 *    "predicate":{…}}
 *
 * Carried as the payload of a DSSE envelope of type application/vnd.in-toto+json.
 */

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** The predicate types Airlock writes. */
export const PREDICATE = {
  slsaProvenance: 'https://slsa.dev/provenance/v1',
  cyclonedx: 'https://cyclonedx.org/bom',
  spdx: 'https://spdx.dev/Document',
  testResult: 'https://in-toto.io/attestation/test-result/v0.1',
  reproducibility: 'https://airlock.dev/attestation/reproducibility/v1',
} as const;

/** The OCI annotation on an attachment naming the predicate type of the statement it carries. */
export const PREDICATE_TYPE_ANNOTATION = 'dev.sigstore.bundle.predicateType';

/** The short name of each predicate type Airlock writes (policy `require:`, attachment artifact types). */
export const PREDICATE_NAME: Readonly<Record<string, string>> = {
  [PREDICATE.slsaProvenance]: 'slsa-provenance',
  [PREDICATE.cyclonedx]: 'cyclonedx',
  [PREDICATE.spdx]: 'spdx',
  [PREDICATE.testResult]: 'test-result',
  [PREDICATE.reproducibility]: 'reproducibility',
};

/** A ResourceDescriptor (in-toto v1): what a subject, dependency or byproduct names. */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  downloadLocation?: string;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

export interface Subject {
  name: string;
  digest: Record<string, string>;
}

export interface Statement<P = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: P;
}

/** The in-toto digest set of an OCI digest: `sha256:<hex>` → `{sha256: "<hex>"}`. */
export function digestSet(digest: Digest): Record<string, string> {
  return { sha256: digestHex(digest) };
}

/** A one-subject statement about the artifact `name` with manifest digest `digest`. */
export function statement<P>(
  subject: { name: string; digest: Digest },
  predicateType: string,
  predicate: P,
): Statement<P> {
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: subject.name, digest: digestSet(subject.digest) }],
    predicateType,
    predicate,
  };
}

const invalid = (message: string): AirlockError<AttestErrorCode> =>
  new AirlockError<AttestErrorCode>('STATEMENT_INVALID', message, {
    hint: 'The attestation is not an in-toto Statement v1; it cannot be trusted or used.',
  });

/**
 * Parses a statement's JSON bytes strictly: `_type` must be v1, every subject
 * must carry a name and a non-empty digest set of lowercase hex, the predicate
 * an object. Anything else is STATEMENT_INVALID.
 */
export function parseStatement(bytes: Uint8Array): Statement<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString());
  } catch {
    throw invalid('the statement is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalid('the statement is not a JSON object');
  const s = v as Record<string, unknown>;
  if (s._type !== STATEMENT_TYPE)
    throw invalid(`the statement's _type is ${JSON.stringify(s._type)}, not ${STATEMENT_TYPE}`);
  if (typeof s.predicateType !== 'string' || s.predicateType === '')
    throw invalid('the statement has no predicateType');
  if (typeof s.predicate !== 'object' || s.predicate === null || Array.isArray(s.predicate))
    throw invalid('the statement has no predicate object');
  if (!Array.isArray(s.subject) || s.subject.length === 0)
    throw invalid('the statement has no subject');
  const subject: Subject[] = [];
  for (const x of s.subject as unknown[]) {
    if (typeof x !== 'object' || x === null) throw invalid('a subject is not an object');
    const { name, digest } = x as { name?: unknown; digest?: unknown };
    if (typeof digest !== 'object' || digest === null || Array.isArray(digest))
      throw invalid('a subject has no digest set');
    const entries = Object.entries(digest as Record<string, unknown>);
    if (entries.length === 0) throw invalid('a subject has an empty digest set');
    for (const [alg, hex] of entries) {
      if (typeof hex !== 'string' || !/^[0-9a-f]+$/.test(hex))
        throw invalid(`a subject's ${alg} digest is not lowercase hex`);
    }
    subject.push({
      name: typeof name === 'string' ? name : '',
      digest: Object.fromEntries(entries) as Record<string, string>,
    });
  }
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: s.predicateType,
    predicate: s.predicate as Record<string, unknown>,
  };
}
