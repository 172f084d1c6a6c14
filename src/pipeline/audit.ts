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
import { defaultAuditConfig, type AuditConfig } from '../config/audit.js';
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

import {
  auditActor,
  auditTail,
  checkpointDue,
  NO_CHECKPOINT_KEY,
  unprotectedMessage,
  type AuditEnv,
  type CheckpointSchedule,
  type CheckpointSigning,
} from './audit-env.js';

export { auditActor, type AuditEnv, type CheckpointSchedule, type CheckpointSigning };

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
  /** The key id the bundle names (its public key hint): who claims to have signed, checked only with keys. */
  keyHint?: string;
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
  /** How much of the log's tail no checkpoint protects. */
  tail: TailProtection;
}

/** The part of the log a cut-off or a rewrite could remove unnoticed. */
export interface TailProtection {
  /** The last entry a consistent checkpoint (signature not failed) covers; 0: none. */
  checkpointed: number;
  /** Entries after it: a cut-off or rewritten tail among them cannot be detected. */
  unprotected: number;
  /**
   * Whether a checkpoint kept outside the store (`--checkpoint FILE`) was given.
   * Without one, whoever can write the store can remove the store's checkpoints along with the tail.
   */
  kept: boolean;
}

/** A checkpoint read from a bundle, with its signature checked when keys are given. */
function readCheckpointBundle(
  bytes: Uint8Array,
  source: string,
  keys: readonly PublicKeyInfo[],
): { checkpoint: Checkpoint; keyId?: string; keyHint?: string; signature: string } {
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
  let keyHint: string | undefined;
  try {
    const m = parseBundle(bytes).verificationMaterial?.content;
    if (m?.$case === 'publicKey' && m.publicKey.hint !== '') keyHint = m.publicKey.hint;
  } catch {
    // Unreadable bundles are reported above (with keys) or below (without).
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
  return {
    checkpoint,
    ...(keyId ? { keyId } : {}),
    ...(keyHint !== undefined ? { keyHint } : {}),
    signature,
  };
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
        ...(f.keyHint !== undefined ? { keyHint: f.keyHint } : {}),
        signature: f.signature,
        consistent: verdict.checkpoints[i]!.consistent,
      }));
      const signed = (c: CheckpointCheck): boolean =>
        c.signature === 'verified' || c.signature === 'unchecked';
      const badSignature = checks.some((c) => !signed(c));
      const checkpointed = Math.max(
        0,
        ...checks.filter((c) => c.consistent && signed(c)).map((c) => c.seq),
      );
      return {
        store: store.root,
        ok: verdict.ok && !badSignature,
        entries: verdict.entries,
        head: verdict.head,
        problems: verdict.problems,
        checkpoints: checks,
        tail: {
          checkpointed,
          unprotected: Math.max(0, verdict.head.seq - checkpointed),
          kept: given.length > 0,
        },
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
  // Noted beside the chain: when the next checkpoint is due.
  const noted = openAuditLog(store);
  try {
    noted.noteCheckpoint({
      seq: cp.seq,
      head: cp.head,
      time: cp.time,
      keyId: key.keyId,
      attachment: att.digest,
    });
  } finally {
    noted.close();
  }
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

export interface CheckpointDueOptions {
  /** The project's `audit:` settings (default: no key, every 100 entries or 24 h). */
  schedule?: CheckpointSchedule | undefined;
  signing?: CheckpointSigning | undefined;
  /** A deploy, rollback or ship moved traffic: a checkpoint is due whatever the schedule says. */
  moved?: boolean;
  clock?: Clock | undefined;
  /** Where the checkpoint made, or why none could be, is said. */
  events: EventSink;
}

/** What `checkpointIfDue` did. */
export interface CheckpointDueResult {
  /** Why a checkpoint was due; undefined when none was. */
  due?: string;
  made?: CheckpointReport;
  /** Why none was made though one was due (no key, no password, the key failed). */
  skipped?: string;
}

/**
 * Signs a checkpoint of the log's head when one is due: after a deploy that
 * moved traffic, once `checkpointEntries` entries follow the last checkpoint,
 * or once the last one (or, with none, the first entry it would cover) is
 * `checkpointIntervalMs` old. Never fails the use-case that calls it: with no
 * key configured, no password, or a key that does not open, it warns once
 * and says how much of the tail no checkpoint protects.
 */
export async function checkpointIfDue(
  store: Store,
  opts: CheckpointDueOptions,
): Promise<CheckpointDueResult> {
  const schedule = opts.schedule ?? defaultAuditConfig();
  const now = (opts.clock ?? store.clock).now();
  const log = openAuditLog(store);
  let tail;
  try {
    tail = auditTail(log);
  } finally {
    log.close();
  }
  const covered = tail.covered;
  const head = { seq: tail.head };
  const due = checkpointDue(tail, now, schedule, opts.moved === true);
  if (due === undefined) return {};
  const keyFile = opts.signing?.key ?? schedule.signingKey;
  // A project that set no key is told after a deploy; after its builds, only at
  // info level (else every build past the schedule would warn; `audit verify` says it).
  const quiet = keyFile === undefined && opts.moved !== true;
  const skip = (why: string): CheckpointDueResult => {
    opts.events({
      type: 'log',
      level: quiet ? 'info' : 'warn',
      message: unprotectedMessage(covered, head.seq, why),
    });
    return { due, skipped: why };
  };
  if (keyFile === undefined) return skip(NO_CHECKPOINT_KEY);
  if (opts.signing?.password === undefined)
    return skip(`no password for ${keyFile} (set AIRLOCK_PASSWORD or COSIGN_PASSWORD)`);
  try {
    const { loadSigningKey } = await import('./sign.js');
    const key = await loadSigningKey(keyFile, opts.signing.password);
    const made = await checkpointAudit(store, key, opts.clock ? { clock: opts.clock } : {});
    if (made)
      opts.events({
        type: 'log',
        level: 'info',
        message: `audit checkpoint: entry ${made.seq} (${made.head}) signed by ${made.keyId}, ${due}`,
      });
    return { due, ...(made ? { made } : {}) };
  } catch (err) {
    return skip(`signing with ${keyFile} failed: ${(err as Error).message}`);
  }
}

/** `checkpointIfDue` for a use-case that read a project (its `audit:` settings) and an AuditEnv. */
export async function checkpointAfter(
  store: Store,
  project: { audit?: AuditConfig | undefined } | undefined,
  env: AuditEnv | undefined,
  events: EventSink,
  moved = false,
): Promise<CheckpointDueResult> {
  try {
    return await checkpointIfDue(store, {
      schedule: project?.audit,
      signing: env?.signing,
      moved,
      clock: env?.clock,
      events,
    });
  } catch (err) {
    // The use-case already did its work (a rollback above all): the log's state is only reported.
    const why = `could not check for a due checkpoint: ${(err as Error).message}`;
    events({ type: 'log', level: 'warn', message: `audit: ${why}` });
    return { skipped: why };
  }
}

/** The digest of a file's bytes (a policy recorded in a verify event). */
export async function fileDigest(path: string): Promise<string> {
  return sha256(await readFile(path));
}

export type { AuditEventType, AuditFilter };
export { AUDIT_EVENT_TYPES, isAuditEventType } from '../audit/types.js';
