import { canonicalJson } from '../core/canonical.js';
import { sha256, type Digest } from '../core/digest.js';
import type { AuditEvent } from './events.js';

/*
 * One entry of the audit log, stored as its RFC 8785 canonical JSON:
 *
 *   {"actor":{"host":"ci-7","user":"ana"},"data":{…},"format":"airlock.audit/v1",
 *    "prev":"sha256:<hash of entry seq-1>","seq":42,"time":1700000000000,"type":"build"}
 *
 * The first entry has seq 1 and prev null. An entry's hash is the sha256 of
 * those exact bytes, and the next entry's `prev` is that hash: any change to
 * an entry (or its removal, a swap, an insertion) breaks the link after it.
 * A change at the tail, or the tail cut off, is caught by a checkpoint: a
 * signed (seq, hash) of an earlier head the current log must still hold.
 */

export const AUDIT_FORMAT = 'airlock.audit/v1';

/** Who caused an event and where. */
export interface AuditActor {
  user: string;
  host: string;
  /** What acted for the user when not the CLI (e.g. `dashboard`). */
  via?: string;
}

/** An entry of the log as it is hashed. */
export type AuditEntry = AuditEvent & {
  format: typeof AUDIT_FORMAT;
  seq: number;
  prev: Digest | null;
  /** ms since the epoch, from the injected clock. */
  time: number;
  actor: AuditActor;
};

/** An entry as stored: its canonical text and the hash of that text. */
export interface StoredEntry {
  seq: number;
  /** The event type (a string: a row may name a type this version does not know). */
  type: string;
  time: number;
  json: string;
  hash: string;
}

/** The head of the log: the last entry's seq and hash (seq 0, hash null when empty). */
export interface ChainHead {
  seq: number;
  hash: Digest | null;
}

/** Seals `event` as the entry after `head`: its canonical text and hash. */
export function sealEntry(
  head: ChainHead,
  event: AuditEvent,
  time: number,
  actor: AuditActor,
): { entry: AuditEntry; json: string; hash: Digest } {
  const entry = {
    format: AUDIT_FORMAT,
    seq: head.seq + 1,
    prev: head.hash,
    time,
    actor,
    type: event.type,
    data: event.data,
  } as AuditEntry;
  const json = canonicalJson(entry);
  return { entry, json, hash: sha256(json) };
}

/** A signed statement that the log had `seq` entries, the last hashing to `head`. */
export interface Checkpoint {
  format: 'airlock.audit-checkpoint/v1';
  seq: number;
  head: Digest;
  /** The hash of entry 1: which log this is a checkpoint of. */
  first: Digest;
  time: number;
}

export const CHECKPOINT_FORMAT = 'airlock.audit-checkpoint/v1';

/** What is wrong at one place of the chain. */
export interface ChainProblem {
  /** The seq of the row where the problem shows (0: the log as a whole). */
  seq: number;
  kind:
    | 'unreadable'
    | 'hash-mismatch'
    | 'seq-gap'
    | 'seq-mismatch'
    | 'broken-link'
    | 'index-mismatch'
    | 'checkpoint-missing'
    | 'checkpoint-mismatch';
  message: string;
}

/** The result of recomputing the chain. */
export interface ChainVerdict {
  ok: boolean;
  /** Entries read. */
  entries: number;
  head: ChainHead;
  /** Every problem found, in log order (the first is where tampering begins). */
  problems: ChainProblem[];
  /** Each checkpoint checked against the log: whether the log still extends it. */
  checkpoints: { seq: number; head: string; consistent: boolean }[];
}

const MAX_PROBLEMS = 100;

/**
 * Recomputes the chain over `rows` (in the order stored, by seq) and checks
 * that the log extends every checkpoint: each row's text hashes to its hash
 * column, names its seq and the previous entry's hash, and agrees with the
 * indexed columns; seq runs 1, 2, 3… with no gap. Pure: the caller reads the rows.
 */
export function verifyChain(
  rows: Iterable<StoredEntry>,
  checkpoints: readonly Checkpoint[] = [],
): ChainVerdict {
  const problems: ChainProblem[] = [];
  const problem = (p: ChainProblem): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const wanted = new Map<number, Checkpoint[]>();
  for (const c of checkpoints) wanted.set(c.seq, [...(wanted.get(c.seq) ?? []), c]);
  const seen = new Map<number, string>();
  let expectedSeq = 1;
  let prev: string | null = null;
  let first: string | undefined;
  let n = 0;
  for (const row of rows) {
    n++;
    if (row.seq !== expectedSeq) {
      problem({
        seq: row.seq,
        kind: 'seq-gap',
        message: `entry ${row.seq} follows entry ${expectedSeq - 1}: entries are missing or were inserted`,
      });
    }
    const hash = sha256(row.json);
    if (hash !== row.hash) {
      problem({
        seq: row.seq,
        kind: 'hash-mismatch',
        message: `entry ${row.seq} was changed: its text hashes to ${hash}, not the recorded ${row.hash}`,
      });
    }
    // Fast path: in canonical JSON the top-level keys after `data` come last, in this
    // order, and `,"format":` cannot occur inside a JSON string (its quotes would be
    // escaped), so the last occurrence starts the entry's own tail. One string
    // comparison checks format, prev, seq, time and type; only a mismatch is parsed
    // to say which of them is wrong.
    const tail = `,"format":"${AUDIT_FORMAT}","prev":${prev === null ? 'null' : `"${prev}"`},"seq":${row.seq},"time":${row.time},"type":${JSON.stringify(row.type)}}`;
    if (
      !row.json.endsWith(tail) ||
      row.json.lastIndexOf(',"format":') !== row.json.length - tail.length
    ) {
      diagnose(row, prev, problem);
    }
    if (row.seq === 1) first = hash;
    if (wanted.has(row.seq)) seen.set(row.seq, hash);
    prev = hash;
    expectedSeq = row.seq + 1;
  }
  const results: ChainVerdict['checkpoints'] = [];
  for (const c of checkpoints) {
    const at = seen.get(c.seq);
    let consistent = at === c.head && first === c.first;
    if (at === undefined) {
      problem({
        seq: c.seq,
        kind: 'checkpoint-missing',
        message: `a checkpoint names entry ${c.seq} (${c.head}), which the log no longer holds: the log was truncated`,
      });
      consistent = false;
    } else if (!consistent) {
      problem({
        seq: c.seq,
        kind: 'checkpoint-mismatch',
        message: `entry ${c.seq} hashes to ${at}, but a checkpoint recorded ${c.head}: history was rewritten`,
      });
    }
    results.push({ seq: c.seq, head: c.head, consistent });
  }
  return {
    ok: problems.length === 0,
    entries: n,
    head: { seq: n === 0 ? 0 : expectedSeq - 1, hash: prev as Digest | null },
    problems,
    checkpoints: results,
  };
}

/** Says why an entry's text does not carry the expected format, prev, seq, time and type. */
function diagnose(row: StoredEntry, prev: string | null, problem: (p: ChainProblem) => void): void {
  let entry: Partial<AuditEntry>;
  try {
    entry = JSON.parse(row.json) as Partial<AuditEntry>;
  } catch {
    problem({ seq: row.seq, kind: 'unreadable', message: `entry ${row.seq} is not JSON` });
    return;
  }
  let found = false;
  if (entry.seq !== row.seq) {
    found = true;
    problem({
      seq: row.seq,
      kind: 'seq-mismatch',
      message: `the entry stored at ${row.seq} says it is entry ${String(entry.seq)}: entries were moved`,
    });
  }
  if (entry.prev !== prev) {
    found = true;
    problem({
      seq: row.seq,
      kind: 'broken-link',
      message: `entry ${row.seq} does not follow the entry before it (prev ${String(entry.prev)}, expected ${String(prev)})`,
    });
  }
  if (
    !found ||
    entry.type !== row.type ||
    entry.time !== row.time ||
    entry.format !== AUDIT_FORMAT
  ) {
    problem({
      seq: row.seq,
      kind: 'index-mismatch',
      message: `entry ${row.seq}'s indexed type or time, or its format, differs from its hashed text`,
    });
  }
}

/** The checkpoint payload for the current head (`first` is entry 1's hash). */
export function checkpointOf(head: ChainHead, first: Digest, time: number): Checkpoint {
  if (head.hash === null) throw new RangeError('an empty log has no checkpoint');
  return { format: CHECKPOINT_FORMAT, seq: head.seq, head: head.hash, first, time };
}

/** Reads a checkpoint payload; undefined when `value` is not one. */
export function parseCheckpoint(value: unknown): Checkpoint | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const c = value as Record<string, unknown>;
  const hex = (v: unknown): v is Digest => typeof v === 'string' && /^sha256:[0-9a-f]{64}$/.test(v);
  if (
    c['format'] !== CHECKPOINT_FORMAT ||
    !Number.isSafeInteger(c['seq']) ||
    (c['seq'] as number) < 1 ||
    !hex(c['head']) ||
    !hex(c['first']) ||
    !Number.isSafeInteger(c['time'])
  )
    return undefined;
  return {
    format: CHECKPOINT_FORMAT,
    seq: c['seq'] as number,
    head: c['head'],
    first: c['first'],
    time: c['time'] as number,
  };
}
