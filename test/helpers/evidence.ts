// Signed evidence fixtures for verify tests and the fuzz bench: statements about one artifact,
// signed into bundles and wrapped in attachment manifests exactly as `airlock sign` stores them.
import {
  PREDICATE,
  buildProvenance,
  cyclonedxJson,
  sbomModel,
  spdxJson,
  statement,
  type BuildFacts,
  type Statement,
} from '../../src/attest/index.js';
import { canonicalJson } from '../../src/core/canonical.js';
import { sha256, type Digest } from '../../src/core/digest.js';
import { MEDIA } from '../../src/oci/index.js';
import { parsePolicy, type Policy } from '../../src/policy/index.js';
import {
  BUNDLE_MEDIA_TYPE,
  generateSigningKey,
  localKeySigner,
  signDsseBundle,
  type SigningKey,
} from '../../src/sign/index.js';
import { PREDICATE_TYPE_ANNOTATION } from '../../src/pipeline/attestations.js';

export const BUILDER = 'https://builder.example/b1';
export const ARTIFACT = sha256('the artifact manifest');
export const OTHER_ARTIFACT = sha256('another artifact manifest');

export interface Attachment {
  source: string;
  manifest: Buffer;
  bundle?: Buffer;
}

/** Build facts about `artifact`. */
export function facts(artifact: Digest = ARTIFACT): BuildFacts {
  return {
    project: 'demo',
    target: 'web',
    artifact: { name: 'demo/web', digest: artifact },
    actionKey: sha256('action'),
    configDigest: sha256('airlock.yaml'),
    source: { uri: 'https://git.example/demo.git', commit: 'c'.repeat(40), ref: 'refs/heads/main' },
    sourceDateEpoch: 1_700_000_000,
    airlockVersion: '0.1.0',
    sandboxProfile: sha256('profile'),
    platform: { os: 'linux', arch: 'amd64' },
    toolchain: [{ kind: 'image', name: 'registry.example/tools', digest: sha256('image') }],
    inputTree: sha256('tree'),
    inputs: [{ path: 'src/main.js', digest: sha256('main') }],
    deps: [],
    lock: [{ kind: 'npm', name: 'left-pad', version: '1.3.0', license: 'MIT' }],
    logs: [{ step: 0, stdout: sha256('o'), stderr: sha256('e') }],
  };
}

/** Provenance, CycloneDX and SPDX statements plus a reproducibility one, all about `artifact`. */
export function statements(artifact: Digest = ARTIFACT, now = 1_800_000_000_000): Statement[] {
  const f = facts(artifact);
  const model = sbomModel(f, { name: 'airlock', version: '0.1.0' });
  return [
    buildProvenance(f, {
      builderId: BUILDER,
      host: 'h',
      invocationId: 'i',
      startedOn: now - 60_000,
      finishedOn: now - 1000,
    }),
    statement(f.artifact, PREDICATE.cyclonedx, JSON.parse(cyclonedxJson(model)) as unknown),
    statement(f.artifact, PREDICATE.spdx, JSON.parse(spdxJson(model)) as unknown),
    statement(f.artifact, PREDICATE.reproducibility, {
      result: 'REPRODUCIBLE',
      builds: [],
      variations: [],
      differences: [],
    }),
  ];
}

/** Wraps bundle JSON bytes in an attachment manifest whose subject is `subject`. */
export function wrap(bundle: Buffer, subject: Digest, predicateType: string): Attachment {
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: MEDIA.ociEmpty, digest: sha256('{}'), size: 2 },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: sha256(bundle), size: bundle.byteLength }],
      subject: { mediaType: MEDIA.ociManifest, digest: subject, size: 1234 },
      annotations: { [PREDICATE_TYPE_ANNOTATION]: predicateType },
    }),
  );
  return { source: sha256(manifest), manifest, bundle };
}

/** Signs raw statement bytes with `key` and attaches the bundle to `subject`. */
export async function attachBytes(
  payload: Buffer,
  key: SigningKey,
  subject: Digest = ARTIFACT,
  predicateType = 'x',
): Promise<Attachment> {
  const bundle = await signDsseBundle(payload, 'application/vnd.in-toto+json', localKeySigner(key));
  return wrap(Buffer.from(canonicalJson(bundle)), subject, predicateType);
}

/** Signs a statement with `key` and attaches it to `subject`. */
export function attach(
  s: Statement,
  key: SigningKey,
  subject: Digest = ARTIFACT,
): Promise<Attachment> {
  return attachBytes(Buffer.from(canonicalJson(s)), key, subject, s.predicateType);
}

export const POLICY_YAML = `version: 1
keys: [trusted.pub]
require: [slsa-provenance, cyclonedx, spdx, reproducibility]
builder: ${BUILDER}
source: { repository: https://git.example/demo.git, ref: refs/heads/main }
minLevel: 4
reproducible: true
deny: { purls: ["pkg:npm/event-stream@*"], licenses: [GPL-3.0-only] }
maxAge: 30d
`;

export function policy(yaml = POLICY_YAML): Policy {
  return parsePolicy(yaml, 'policy.yaml');
}

export const keys = { trusted: generateSigningKey(), untrusted: generateSigningKey() };

/** A small deterministic PRNG (mulberry32) so every fuzz run is the same. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random flip, truncation or append over `bytes` (never the identity). */
export function mutate(bytes: Buffer, rnd: () => number): Buffer {
  const kind = Math.floor(rnd() * 3);
  if (kind === 0 || bytes.byteLength === 0) {
    const out = Buffer.from(bytes.byteLength ? bytes : Buffer.from([0]));
    const i = Math.floor(rnd() * out.byteLength);
    out[i] = out[i]! ^ (1 + Math.floor(rnd() * 255));
    return out;
  }
  if (kind === 1) return bytes.subarray(0, Math.floor(rnd() * bytes.byteLength));
  const extra = Buffer.alloc(1 + Math.floor(rnd() * 8));
  for (let i = 0; i < extra.byteLength; i++) extra[i] = Math.floor(rnd() * 256);
  return Buffer.concat([bytes, extra]);
}

export type FuzzTarget = 'artifact' | 'payload' | 'signature' | 'bundle' | 'manifest';
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  'artifact',
  'payload',
  'signature',
  'bundle',
  'manifest',
];

/**
 * One mutated case of a valid attachment: the subject digest (artifact),
 * the DSSE payload (the provenance bytes, re-wrapped so it reaches the
 * signature check), the signature, the bundle JSON or the manifest.
 */
export function mutatedCase(
  valid: Attachment,
  target: FuzzTarget,
  rnd: () => number,
): { subject: Digest; attachment: Attachment } {
  const bundleJson = (): Record<string, unknown> =>
    JSON.parse(valid.bundle!.toString('utf8')) as Record<string, unknown>;
  const rewrap = (b: Record<string, unknown>): Attachment =>
    wrap(Buffer.from(canonicalJson(b)), ARTIFACT, 'x');
  switch (target) {
    case 'artifact': {
      const hex = Buffer.from(ARTIFACT.slice(7), 'hex');
      const i = Math.floor(rnd() * hex.byteLength);
      hex[i] = hex[i]! ^ (1 + Math.floor(rnd() * 255));
      return { subject: `sha256:${hex.toString('hex')}`, attachment: valid };
    }
    case 'payload': {
      const b = bundleJson();
      const env = b.dsseEnvelope as { payload: string };
      env.payload = mutate(Buffer.from(env.payload, 'base64'), rnd).toString('base64');
      return { subject: ARTIFACT, attachment: rewrap(b) };
    }
    case 'signature': {
      const b = bundleJson();
      const sig = (b.dsseEnvelope as { signatures: { sig: string }[] }).signatures[0]!;
      sig.sig = mutate(Buffer.from(sig.sig, 'base64'), rnd).toString('base64');
      return { subject: ARTIFACT, attachment: rewrap(b) };
    }
    case 'bundle':
      return { subject: ARTIFACT, attachment: { ...valid, bundle: mutate(valid.bundle!, rnd) } };
    case 'manifest':
      return { subject: ARTIFACT, attachment: { ...valid, manifest: mutate(valid.manifest, rnd) } };
  }
}
