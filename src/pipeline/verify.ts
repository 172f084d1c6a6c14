import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, parseStatement } from '../attest/index.js';
import { systemClock, type Clock } from '../core/clock.js';
import { sha256, type Digest } from '../core/digest.js';
import { AirlockError, isAirlockError } from '../core/errors.js';
import { recordAudit, type AuditEnv } from './audit.js';
import type { EventSink } from '../core/events.js';
import { MEDIA, parseManifest, type Descriptor, type Manifest } from '../oci/index.js';
import {
  evaluatePolicy,
  parsePolicy,
  type FailedAttachment,
  type Policy,
  type Verdict,
  type VerifiedStatement,
} from '../policy/index.js';
import { resolveLocal } from '../registry/index.js';
import {
  BUNDLE_MEDIA_TYPE,
  decodePublicKey,
  verifyBundle,
  type PublicKeyInfo,
} from '../sign/index.js';
import { Store, defaultStoreRoot } from '../store/index.js';
import { bundleAttachments } from './attestations.js';
import type { PolicyErrorCode } from '../policy/index.js';
import type { AttestErrorCode } from '../attest/index.js';
import type { BundleErrorCode } from '../sign/index.js';
import type { EvidenceErrorCode } from './errors.js';

type AttachmentErrorCode = EvidenceErrorCode | BundleErrorCode | AttestErrorCode;

export interface VerifyRequest {
  /** A store tag (`demo/web`) or manifest digest. */
  artifact: string;
  /** The policy file. */
  policy: string;
  store?: string | undefined;
  events: EventSink;
  /** Where "now" comes from for maxAge (default: the system clock). */
  clock?: Clock;
  /**
   * Pull `artifact` (a registry reference) with its attachments into the
   * store first: the only network access verify makes, and only when asked.
   */
  pull?: { insecure?: readonly string[] | undefined } | undefined;
  /** User and host of the verify event recorded in the audit log (its time is `clock`'s). */
  audit?: AuditEnv | undefined;
}

export interface VerifyReport extends Verdict {
  artifact: string;
  policy: string;
}

/** Reads a policy file and the public keys it names (relative to it). */
export async function loadPolicy(path: string): Promise<{ policy: Policy; keys: PublicKeyInfo[] }> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new AirlockError<PolicyErrorCode>('POLICY_INVALID', `cannot read the policy ${file}`, {
      hint: 'Give the path of a policy file with --policy (see docs/policy.md).',
    });
  }
  const policy = parsePolicy(text, file);
  const keys: PublicKeyInfo[] = [];
  for (const k of policy.keys) {
    const path = resolve(dirname(file), k);
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch {
      throw new AirlockError<PolicyErrorCode>(
        'POLICY_INVALID',
        `${file}: cannot read the key ${k}`,
        {
          hint: 'Key paths in a policy are relative to the policy file.',
          details: { key: path },
        },
      );
    }
    keys.push(decodePublicKey(pem, path));
  }
  return { policy, keys };
}

/** The bytes of one attachment: its manifest and, when it names one, its bundle. */
export interface AttachmentBytes {
  /** The attachment manifest's digest, as the referrers list names it. */
  source: string;
  manifest: Uint8Array;
  bundle?: Uint8Array;
}

/**
 * An attachment read from the store: the store checked both blobs against
 * their digests on read (`source`, and the layer digest of `parsed`), and
 * `parsed` is the manifest as verifyAttachments would parse it.
 */
interface StoredAttachment extends AttachmentBytes {
  parsed?: Manifest;
}

/**
 * Verifies every Sigstore bundle attached to the artifact `subject` against
 * `keys`: the attachment must name the subject, the bundle must verify
 * (see verifyBundle), its payload must be an in-toto v1 statement.
 * Synchronous once the bytes are read; every failure is kept with its code.
 */
export function verifyAttachments(
  subject: Digest,
  attachments: readonly AttachmentBytes[],
  keys: readonly PublicKeyInfo[],
): { verified: VerifiedStatement[]; failed: FailedAttachment[] } {
  return verifyEach(subject, attachments, keys, false);
}

/** verifyAttachments; `stored` when every attachment is a StoredAttachment (digests checked on read). */
function verifyEach(
  subject: Digest,
  attachments: readonly StoredAttachment[],
  keys: readonly PublicKeyInfo[],
  stored: boolean,
): { verified: VerifiedStatement[]; failed: FailedAttachment[] } {
  const verified: VerifiedStatement[] = [];
  const failed: FailedAttachment[] = [];
  for (const a of attachments) {
    try {
      if (!stored && sha256(a.manifest) !== a.source)
        throw new AirlockError<AttachmentErrorCode>(
          'ATTACHMENT_MISMATCH',
          `the attachment's bytes are not the ${a.source} the referrers list names`,
        );
      const m = (stored && a.parsed) || parseManifest(a.manifest, MEDIA.ociManifest, a.source);
      if (m.subject?.digest !== subject)
        throw new AirlockError<AttachmentErrorCode>(
          'ATTACHMENT_MISMATCH',
          `attached to ${m.subject?.digest ?? 'nothing'}, not ${subject}`,
        );
      if (
        m.kind !== 'manifest' ||
        m.layers.length !== 1 ||
        m.layers[0]!.mediaType !== BUNDLE_MEDIA_TYPE ||
        !a.bundle
      )
        throw new AirlockError<AttachmentErrorCode>(
          'BUNDLE_INVALID',
          'the attachment does not hold exactly one Sigstore bundle',
        );
      const layer = m.layers[0]!;
      // From the store, the bundle was read by this layer digest and checked on read.
      if ((!stored && sha256(a.bundle) !== layer.digest) || a.bundle.byteLength !== layer.size)
        throw new AirlockError<AttachmentErrorCode>(
          'BUNDLE_INVALID',
          `the bundle bytes are not the ${layer.digest} the attachment names`,
        );
      const v = verifyBundle(a.bundle, keys);
      if (v.payloadType !== IN_TOTO_PAYLOAD_TYPE || !v.payload)
        throw new AirlockError<AttachmentErrorCode>(
          'STATEMENT_INVALID',
          `the bundle's payload type is ${v.payloadType ?? 'none'}, not ${IN_TOTO_PAYLOAD_TYPE}`,
        );
      verified.push({ source: a.source, keyId: v.keyId, statement: parseStatement(v.payload) });
    } catch (err) {
      failed.push({
        source: a.source,
        code: isAirlockError(err) ? err.code : 'UNEXPECTED',
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return { verified, failed };
}

/**
 * Reads the attachments of `subject` from the store: each manifest by the
 * digest the referrers list names and its bundle by the manifest's layer
 * digest, both checked against their digest by the store on read, so
 * verifyEach hashes neither again.
 */
async function readAttachments(store: Store, subject: Digest): Promise<StoredAttachment[]> {
  const out: StoredAttachment[] = [];
  for (const d of await bundleAttachments(store, subject)) {
    const manifest = await store.getBytes(d.digest);
    let bundle: Buffer | undefined;
    let parsed: Manifest | undefined;
    try {
      // The parse verifyEach makes (as an OCI manifest), done once here.
      parsed = parseManifest(manifest, MEDIA.ociManifest, d.digest);
      const layer = parsed.kind === 'manifest' ? parsed.layers[0] : undefined;
      if (layer && layer.size <= 16 * 1024 * 1024) bundle = await store.getBytes(layer.digest);
    } catch {
      // verifyEach reports it
    }
    out.push({
      source: d.digest,
      manifest,
      ...(parsed ? { parsed } : {}),
      ...(bundle ? { bundle } : {}),
    });
  }
  return out;
}

/**
 * `airlock verify ARTIFACT --policy FILE`: offline, from the store. Every
 * rule is reported; the verdict fails on any failed rule and on any error
 * while verifying (fail closed). The report names the digest verified.
 */
export async function runVerify(req: VerifyRequest): Promise<VerifyReport> {
  const { policy, keys } = await loadPolicy(req.policy);
  let artifact = req.artifact;
  if (req.pull) {
    const { runPull } = await import('./registry-pull.js');
    const pulled = await runPull({
      ref: req.artifact,
      store: req.store,
      insecure: req.pull.insecure,
      events: req.events,
    });
    artifact = pulled.digest; // verify exactly what was pulled, whatever the tag says now
  }
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events: req.events });
  try {
    const desc: Descriptor = await resolveLocal(store, artifact, 'local store');
    const attachments = await readAttachments(store, desc.digest);
    const { verified, failed } = verifyEach(desc.digest, attachments, keys, true);
    const verdict = evaluatePolicy(
      policy,
      desc.digest,
      verified,
      failed,
      (req.clock ?? systemClock).now(),
    );
    recordAudit(
      store,
      {
        type: 'verify',
        data: {
          artifact: desc.digest,
          policyDigest: sha256(await readFile(policy.file)),
          pass: verdict.pass,
          rules: verdict.rules.map((r) => ({ rule: r.rule, pass: r.pass, reason: r.reason })),
        },
      },
      { ...(req.clock ? { clock: req.clock } : {}), ...req.audit },
    );
    return { artifact: req.artifact, policy: policy.file, ...verdict };
  } finally {
    store.close();
  }
}
