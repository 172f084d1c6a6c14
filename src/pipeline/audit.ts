import { readFile, writeFile } from 'node:fs/promises';
import {
  IN_TOTO_PAYLOAD_TYPE,
  parseStatement,
  statement,
  type Statement,
} from '../attest/index.js';
import {
  AuditLog,
  checkpointOf,
  parseCheckpoint,
  type AuditErrorCode,
  type AuditEvent,
  type AuditEventType,
  type AuditFilter,
  type AuditRecord,
  type ChainVerdict,
  type Checkpoint,
} from '../audit/index.js';
import { canonicalJson } from '../core/canonical.js';
import type { Clock } from '../core/clock.js';
import { sha256 } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { MEDIA, parseManifest, type Descriptor } from '../oci/index.js';
import { localReferrers } from '../registry/index.js';
import {
  decodePublicKey,
  localKeySigner,
  parseBundle,
  signDsseBundle,
  verifyBundle,
  type PublicKeyInfo,
  type SigningKey,
} from '../sign/index.js';
import { Store, defaultStoreRoot } from '../store/index.js';
import {
  LEGACY_BUNDLE_ARTIFACT_TYPE,
  PREDICATE_TYPE_ANNOTATION,
  attach,
  bundleArtifactType,
} from './attestations.js';

/*
 * The use-cases of the audit log (src/audit/): recording events, reading,
 * exporting and verifying the chain, and signed checkpoints of its head.
 *
 * Checkpoints live in the store as referrers of a well-known tag:
 *
 *   tag airlock/audit → manifest {"artifactType":"application/vnd.airlock.audit-log.v1",
 *                                 "annotations":{"dev.airlock.audit.first":"sha256:<entry 1's hash>"}, …}
 *   its sha256-<hex> referrers index lists Sigstore bundles (DSSE, in-toto) whose statement is
 *     {"subject":[{"name":"airlock/audit","digest":{"sha256":"<anchor hex>"}}],
 *      "predicateType":"https://airlock.dev/audit-checkpoint/v1",
 *      "predicate":{"format":"airlock.audit-checkpoint/v1","seq":…,"head":…,"first":…,"time":…}}
 *
 * Every checkpoint is kept (none replaces another), and `airlock push`
 * pushes the tag with them beside the artifact.
 */

export const AUDIT_TAG = 'airlock/audit';
/** The tag the audit anchor and its checkpoints are pushed under, in the artifact's repository. */
export const AUDIT_PUSH_TAG = 'airlock-audit';
export const AUDIT_ARTIFACT_TYPE = 'application/vnd.airlock.audit-log.v1';
export const CHECKPOINT_PREDICATE = 'https://airlock.dev/audit-checkpoint/v1';
const FIRST_ANNOTATION = 'dev.airlock.audit.first';

import { auditActor, type AuditEnv } from './audit-env.js';

export { auditActor, type AuditEnv };

/** Opens the audit log of an open store. */
export function openAuditLog(store: Store): AuditLog {
  return AuditLog.open(store.paths.auditDb);
}

/**
 * Appends `event` to the store's audit log (the clock, user and host from
 * `env`); `components` are the purls its artifact contains, for lineage.
 * A failure to record fails the use-case: an unrecorded action is not allowed to pass silently.
 */
export function recordAudit(
  store: Store,
  event: AuditEvent,
  env: AuditEnv = {},
  components: readonly string[] = [],
): AuditRecord {
  const log = openAuditLog(store);
  try {
    return log.append(
      event,
      { time: (env.clock ?? store.clock).now(), actor: auditActor(env) },
      components,
    );
  } finally {
    log.close();
  }
}

/** Options of the audit use-cases that only read the store. */
export interface AuditStoreOptions {
  store?: string | undefined;
  events: EventSink;
}

async function withStore<T>(opts: AuditStoreOptions, fn: (store: Store) => Promise<T> | T) {
  const store = await Store.open(opts.store ?? defaultStoreRoot(), { events: opts.events });
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** Reads `--since` (an ISO date/time, or a duration back from now: `30m`, `12h`, `7d`) as ms. */
export function parseSince(text: string, now: number): number {
  const rel = /^(\d+)([smhd])$/.exec(text);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      rel[2] as 's' | 'm' | 'h' | 'd'
    ];
    return now - Number(rel[1]) * unit;
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t))
    throw new AirlockError<AuditErrorCode>(
      'AUDIT_FILTER_INVALID',
      `--since ${JSON.stringify(text)} is neither a date nor a duration`,
      {
        hint: 'Give an ISO date (2026-11-29 or 2026-11-29T17:00:00Z) or a duration (30m, 12h, 7d).',
      },
    );
  return t;
}

export interface AuditLogRequest extends AuditStoreOptions {
  filter?: AuditFilter;
}

export interface AuditLogReport {
  store: string;
  /** The log's head (seq and hash) when it was read. */
  head: { seq: number; hash: string | null };
  entries: AuditRecord[];
}

/** `airlock audit log`: the entries matching a filter, oldest first. */
export async function runAuditLog(req: AuditLogRequest): Promise<AuditLogReport> {
  return withStore(req, (store) => {
    const log = openAuditLog(store);
    try {
      return { store: store.root, head: log.head(), entries: log.list(req.filter ?? {}) };
    } finally {
      log.close();
    }
  });
}

/** `airlock audit export`: every entry as one line of JSON (JSON Lines), oldest first. */
export async function runAuditExport(
  req: AuditStoreOptions & { output?: string | undefined },
): Promise<{ entries: number; lines?: string[]; output?: string }> {
  return withStore(req, async (store) => {
    const log = openAuditLog(store);
    try {
      const lines: string[] = [];
      for (const row of log.rows())
        lines.push(`{"entry":${row.json},"hash":${JSON.stringify(row.hash)},"seq":${row.seq}}`);
      if (req.output === undefined) return { entries: lines.length, lines };
      await writeFile(req.output, lines.map((l) => `${l}\n`).join(''));
      return { entries: lines.length, output: req.output };
    } finally {
      log.close();
    }
  });
}

/** One checkpoint as checked by `audit verify`. */
export interface CheckpointCheck {
  /** Where it came from: the store, or the file given. */
  source: string;
  seq: number;
  head: string;
  time: number;
  /** The signer's key id when its signature was verified. */
  keyId?: string;
  /** `verified` against a key given, `unchecked` when no key was given, or `not verified: <why>`. */
  signature: string;
  /** The log still holds this entry with this hash (it extends the checkpoint). */
  consistent: boolean;
}

export interface AuditVerifyRequest extends AuditStoreOptions {
  /** Checkpoint bundles kept outside the store (`audit checkpoint --output`). */
  checkpoints?: readonly string[];
  /** Public keys checkpoint signatures must verify against. */
  keys?: readonly string[];
}

export interface AuditVerifyReport {
  store: string;
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string | null };
  problems: ChainVerdict['problems'];
  checkpoints: CheckpointCheck[];
}

/** A checkpoint read from a bundle, with its signature checked when keys are given. */
function readCheckpointBundle(
  bytes: Uint8Array,
  source: string,
  keys: readonly PublicKeyInfo[],
): { checkpoint: Checkpoint; keyId?: string; signature: string } {
  const invalid = (why: string): AirlockError<AuditErrorCode> =>
    new AirlockError<AuditErrorCode>('AUDIT_CHECKPOINT_INVALID', `${source}: ${why}`, {
      hint: 'Give a checkpoint bundle written by `airlock audit checkpoint --output FILE`.',
      details: { source },
    });
  let payload: Buffer;
  let keyId: string | undefined;
  let signature: string;
  if (keys.length > 0) {
    try {
      const v = verifyBundle(bytes, keys);
      payload = v.payload ?? Buffer.alloc(0);
      keyId = v.keyId;
      signature = 'verified';
    } catch (err) {
      // A forged or foreign checkpoint is a verification failure, reported, not a crash.
      const b = parseBundle(bytes);
      payload =
        b.content.$case === 'dsseEnvelope'
          ? Buffer.from(b.content.dsseEnvelope.payload)
          : Buffer.alloc(0);
      signature = `not verified: ${(err as Error).message}`;
    }
  } else {
    let b;
    try {
      b = parseBundle(bytes);
    } catch (err) {
      throw invalid((err as Error).message);
    }
    if (b.content.$case !== 'dsseEnvelope') throw invalid('not a DSSE bundle');
    payload = Buffer.from(b.content.dsseEnvelope.payload);
    signature = 'unchecked';
  }
  let s: Statement<Record<string, unknown>>;
  try {
    s = parseStatement(payload);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  const checkpoint =
    s.predicateType === CHECKPOINT_PREDICATE ? parseCheckpoint(s.predicate) : undefined;
  if (!checkpoint) throw invalid(`not an audit checkpoint (${s.predicateType})`);
  return { checkpoint, ...(keyId ? { keyId } : {}), signature };
}

/** The checkpoint bundles kept in the store (referrers of the audit tag). */
async function storedCheckpoints(store: Store): Promise<{ source: string; bytes: Buffer }[]> {
  const anchor = await store.resolveTag(AUDIT_TAG);
  if (!anchor) return [];
  const out: { source: string; bytes: Buffer }[] = [];
  for (const d of await localReferrers(store, anchor.digest)) {
    if (d.annotations?.[PREDICATE_TYPE_ANNOTATION] !== CHECKPOINT_PREDICATE) continue;
    const m = parseManifest(await store.getBytes(d.digest), d.mediaType, d.digest);
    if (m.kind !== 'manifest' || m.layers.length !== 1) continue;
    out.push({ source: `store ${d.digest}`, bytes: await store.getBytes(m.layers[0]!.digest) });
  }
  return out;
}

async function loadKeys(files: readonly string[] = []): Promise<PublicKeyInfo[]> {
  return Promise.all(files.map(async (k) => decodePublicKey(await readFile(k, 'utf8'), k)));
}

/**
 * `airlock audit verify`: recomputes the whole chain and checks that it
 * extends every checkpoint, those kept in the store and those given as
 * files; with keys, a checkpoint whose signature fails fails the verdict.
 */
export async function runAuditVerify(req: AuditVerifyRequest): Promise<AuditVerifyReport> {
  const keys = await loadKeys(req.keys);
  const given = await Promise.all(
    (req.checkpoints ?? []).map(async (f) => ({ source: f, bytes: await readFile(f) })),
  );
  return withStore(req, async (store) => {
    const found = [...(await storedCheckpoints(store)), ...given].map((c) => ({
      source: c.source,
      ...readCheckpointBundle(c.bytes, c.source, keys),
    }));
    const log = openAuditLog(store);
    try {
      const verdict = log.verify(found.map((f) => f.checkpoint));
      const checks: CheckpointCheck[] = found.map((f, i) => ({
        source: f.source,
        seq: f.checkpoint.seq,
        head: f.checkpoint.head,
        time: f.checkpoint.time,
        ...(f.keyId ? { keyId: f.keyId } : {}),
        signature: f.signature,
        consistent: verdict.checkpoints[i]!.consistent,
      }));
      const badSignature = checks.some(
        (c) => c.signature !== 'verified' && c.signature !== 'unchecked',
      );
      return {
        store: store.root,
        ok: verdict.ok && !badSignature,
        entries: verdict.entries,
        head: verdict.head,
        problems: verdict.problems,
        checkpoints: checks,
      };
    } finally {
      log.close();
    }
  });
}

/** The audit tag's manifest (created on first use): the subject of every checkpoint. */
async function auditAnchor(store: Store, first: string): Promise<Descriptor> {
  const current = await store.resolveTag(AUDIT_TAG);
  if (current && current.annotations?.[FIRST_ANNOTATION] === first) return current;
  const empty = await store.putBytes(Buffer.from('{}'));
  const annotations = { [FIRST_ANNOTATION]: first };
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    artifactType: AUDIT_ARTIFACT_TYPE,
    config: { mediaType: MEDIA.ociEmpty, digest: empty.digest, size: empty.size },
    layers: [{ mediaType: MEDIA.ociEmpty, digest: empty.digest, size: empty.size }],
    annotations,
  };
  const put = await store.putBytes(Buffer.from(canonicalJson(manifest)));
  const desc: Descriptor = {
    mediaType: MEDIA.ociManifest,
    digest: put.digest,
    size: put.size,
    artifactType: AUDIT_ARTIFACT_TYPE,
    annotations,
  };
  await store.setTag(AUDIT_TAG, desc);
  return desc;
}

export interface CheckpointReport {
  seq: number;
  head: string;
  keyId: string;
  /** The checkpoint's attachment manifest in the store. */
  attachment: string;
  /** The bundle written for the verifier to keep, when asked. */
  output?: string;
}

/**
 * Signs the log's current head with `key` and keeps the bundle as a
 * referrer of the audit tag (and in `output` when given). Undefined when
 * the log is empty. The deploy stage calls this after every deploy.
 */
export async function checkpointAudit(
  store: Store,
  key: SigningKey,
  opts: { clock?: Clock; output?: string | undefined } = {},
): Promise<CheckpointReport | undefined> {
  const log = openAuditLog(store);
  let cp: Checkpoint;
  try {
    const head = log.head();
    const first = log.first();
    if (head.hash === null || first === undefined) return undefined;
    cp = checkpointOf(head, first, (opts.clock ?? store.clock).now());
  } finally {
    log.close();
  }
  const anchor = await auditAnchor(store, cp.first);
  const st = statement({ name: AUDIT_TAG, digest: anchor.digest }, CHECKPOINT_PREDICATE, cp);
  const bundle = await signDsseBundle(
    Buffer.from(canonicalJson(st)),
    IN_TOTO_PAYLOAD_TYPE,
    localKeySigner(key),
  );
  const bytes = Buffer.from(canonicalJson(bundle));
  const att = await attach(
    store,
    anchor,
    bytes,
    bundleArtifactType(CHECKPOINT_PREDICATE),
    LEGACY_BUNDLE_ARTIFACT_TYPE,
    CHECKPOINT_PREDICATE,
    // Checkpoints accumulate: none replaces an earlier one.
    () => false,
  );
  if (opts.output !== undefined) await writeFile(opts.output, `${canonicalJson(bundle)}\n`);
  return {
    seq: cp.seq,
    head: cp.head,
    keyId: key.keyId,
    attachment: att.digest,
    ...(opts.output !== undefined ? { output: opts.output } : {}),
  };
}

export interface AuditCheckpointRequest extends AuditStoreOptions {
  key: string;
  password: string;
  output?: string | undefined;
  clock?: Clock;
}

/** `airlock audit checkpoint --key K`: a signed checkpoint of the current head. */
export async function runAuditCheckpoint(req: AuditCheckpointRequest): Promise<CheckpointReport> {
  const { loadSigningKey } = await import('./sign.js');
  const key = await loadSigningKey(req.key, req.password);
  return withStore(req, async (store) => {
    const r = await checkpointAudit(store, key, {
      ...(req.clock ? { clock: req.clock } : {}),
      output: req.output,
    });
    if (!r)
      throw new AirlockError<AuditErrorCode>('AUDIT_CHECKPOINT_INVALID', 'the audit log is empty', {
        hint: 'Build, sign or push something first: a checkpoint signs the head of a log with entries.',
      });
    return r;
  });
}

/** The digest of a file's bytes (a policy recorded in a verify event). */
export async function fileDigest(path: string): Promise<string> {
  return sha256(await readFile(path));
}

export type { AuditEventType };
