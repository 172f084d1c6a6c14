import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import {
  IN_TOTO_PAYLOAD_TYPE,
  derivedUuid,
  parseStatement,
  type Statement,
} from '../attest/index.js';
import { canonicalJson } from '../core/canonical.js';
import { digestHex } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { parseManifest, type Descriptor } from '../oci/index.js';
import { localReferrers } from '../registry/index.js';
import {
  decodePrivateKey,
  localKeySigner,
  signDsseBundle,
  type SigningKey,
} from '../sign/index.js';
import type { Store } from '../store/index.js';
import { STATEMENT_ARTIFACT_TYPE, attachBundle } from './attestations.js';
import { checkpointAudit, recordAudit, type AuditEnv } from './audit.js';
import { openWorkspace, type OpenWorkspace, type Workspace } from './context.js';
import type { EvidenceErrorCode } from './errors.js';
import { collectFacts, evidenceStatements } from './evidence.js';

export interface SignRequest extends Workspace {
  /** Targets whose last build is signed; all when empty. */
  targets: string[];
  /** The cosign-format private key file. */
  key: string;
  /** Its password (AIRLOCK_PASSWORD / COSIGN_PASSWORD / prompt); never logged. */
  password: string;
  /** runDetails.builder.id of the provenance. */
  builderId?: string | undefined;
}

export interface SignReport {
  keyId: string;
  /** The audit log's head, signed as a checkpoint after signing. */
  checkpoint?: { seq: number; head: string };
  targets: {
    name: string;
    artifact: string;
    attachments: { predicateType: string; digest: string }[];
  }[];
}

/** Loads a cosign-format private key; a missing file is NO_SIGNING_KEY. */
export async function loadSigningKey(path: string, password: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch {
    throw new AirlockError<EvidenceErrorCode>(
      'NO_SIGNING_KEY',
      `cannot read the signing key ${path}`,
      {
        hint: 'Give the cosign.key written by `airlock keygen` (or cosign) with --key.',
        details: { path },
      },
    );
  }
  return decodePrivateKey(pem, password, path);
}

/**
 * Signs each statement as DSSE in a Sigstore bundle and attaches it to
 * `artifact`, replacing the earlier bundle of the same predicate type.
 */
export async function signStatements(
  store: Store,
  artifact: Descriptor,
  statements: readonly Statement[],
  key: SigningKey,
  events: EventSink,
  audit: AuditEnv = {},
  target?: string,
): Promise<{ predicateType: string; digest: string }[]> {
  const signer = localKeySigner(key);
  const out: { predicateType: string; digest: string }[] = [];
  for (const s of statements) {
    const payload = Buffer.from(canonicalJson(s));
    const bundle = await signDsseBundle(payload, IN_TOTO_PAYLOAD_TYPE, signer);
    const desc = await attachBundle(
      store,
      artifact,
      Buffer.from(canonicalJson(bundle)),
      s.predicateType,
    );
    events({
      type: 'log',
      level: 'info',
      message: `signed ${s.predicateType} for ${artifact.digest} (${desc.digest})`,
    });
    const about = {
      artifact: artifact.digest,
      predicateType: s.predicateType,
      attachment: desc.digest,
      ...(target !== undefined ? { target } : {}),
    };
    recordAudit(store, { type: 'attestation', data: about }, audit);
    recordAudit(store, { type: 'signature', data: { ...about, keyId: key.keyId } }, audit);
    out.push({ predicateType: s.predicateType, digest: desc.digest });
  }
  return out;
}

/** Unsigned statements attached to `artifact` (reproducibility, test results) that name it. */
export async function pendingStatements(store: Store, artifact: Descriptor): Promise<Statement[]> {
  const out: Statement[] = [];
  for (const d of await localReferrers(store, artifact.digest)) {
    if (d.artifactType !== STATEMENT_ARTIFACT_TYPE) continue;
    const m = parseManifest(await store.getBytes(d.digest), d.mediaType, d.digest);
    if (m.kind !== 'manifest' || m.layers.length !== 1) continue;
    const s = parseStatement(await store.getBytes(m.layers[0]!.digest));
    if (s.subject.every((x) => x.digest.sha256 === digestHex(artifact.digest))) out.push(s);
  }
  return out;
}

/** Signs the evidence of the last build of each of `names` in an open workspace. */
export async function signTargets(
  open: OpenWorkspace,
  names: readonly string[],
  key: SigningKey,
  events: EventSink,
  builderId?: string,
  audit: AuditEnv = {},
): Promise<SignReport> {
  const report: SignReport = { keyId: key.keyId, targets: [] };
  for (const name of names) {
    const { facts, artifact, startedOn, finishedOn } = await collectFacts(open, name);
    const statements = [
      ...evidenceStatements(facts, {
        builderId,
        host: hostname(),
        invocationId: derivedUuid(`${facts.actionKey}\0${finishedOn}`),
        startedOn,
        finishedOn,
      }),
      ...(await pendingStatements(open.store, artifact)),
    ];
    const attachments = await signStatements(
      open.store,
      artifact,
      statements,
      key,
      events,
      audit,
      name,
    );
    report.targets.push({ name, artifact: artifact.digest, attachments });
  }
  // The key is at hand: the log's head is signed as a checkpoint too.
  const cp = await checkpointAudit(open.store, key, audit.clock ? { clock: audit.clock } : {});
  if (cp) {
    report.checkpoint = { seq: cp.seq, head: cp.head };
    events({
      type: 'log',
      level: 'info',
      message: `audit checkpoint: entry ${cp.seq} (${cp.head}) signed`,
    });
  }
  return report;
}

/** `airlock sign [target…]`: provenance, SBOMs and pending statements of each target, signed and attached. */
export async function runSign(req: SignRequest): Promise<SignReport> {
  const key = await loadSigningKey(req.key, req.password);
  const open = await openWorkspace(req);
  try {
    const names = req.targets.length > 0 ? req.targets : [...open.project.targets.keys()];
    return await signTargets(open, names, key, req.events, req.builderId, req.audit);
  } finally {
    open.close();
  }
}
