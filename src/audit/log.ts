import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { AirlockError } from '../core/errors.js';
import type { Digest } from '../core/digest.js';
import { storeError } from '../store/index.js';
import { migrateSchema, statementCache, type SchemaStep } from '../store/sqlite.js';
import {
  sealEntry,
  verifyChain,
  type AuditActor,
  type AuditEntry,
  type ChainHead,
  type ChainVerdict,
  type Checkpoint,
  type StoredEntry,
} from './chain.js';
import type { AuditErrorCode } from './errors.js';
import { buildEventProblems, pushEventProblems } from './build-event.js';
import { eventSubjects, parseEventData, type AuditEvent, type AuditEventType } from './events.js';

/*
 * The audit log in the store, schema version AUDIT_DB_MIGRATIONS.length
 * (PRAGMA user_version). Unlike build.sqlite it is not derived: it is never
 * recreated or pruned.
 *
 *   <store>/airlock/v1/audit.sqlite   (WAL)
 *     events(seq INTEGER PRIMARY KEY, type TEXT, time INTEGER, json TEXT, hash TEXT)
 *       the hash chain (audit/chain.ts): json is the entry's canonical JSON, hash its
 *       sha256; type and time are copies for filtering, checked by verify
 *     event_subjects(digest TEXT, seq INTEGER)   artifact digests each event is about
 *     components(purl TEXT, artifact TEXT, PRIMARY KEY (purl, artifact))
 *       which artifact contains which package (from the build's lock entries), for
 *       `lineage --uses`; derived from the build records the events name
 *     checkpoints(seq, head, time, key_id, attachment)
 *       the checkpoints this store signed (the bundles themselves are referrers of the
 *       store tag airlock/audit); read only to tell when the next one is due, never
 *       trusted by verify
 *     host_packages(digest, purl)
 *       the Debian package (purl, '' when none) a host tool's binary of this digest
 *       belongs to: dpkg is asked once per binary, not at every build
 *
 * Appends run in a BEGIN IMMEDIATE transaction: the head is read and the next
 * entry written under SQLite's write lock, so processes appending at once
 * queue up and never fork the chain (seq is the primary key besides).
 */

export const AUDIT_DB_MIGRATIONS: readonly SchemaStep[] = [
  (db) => {
    db.exec(
      'CREATE TABLE events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, time INTEGER NOT NULL, json TEXT NOT NULL, hash TEXT NOT NULL);' +
        'CREATE INDEX events_by_type ON events (type, seq);' +
        'CREATE INDEX events_by_time ON events (time);' +
        'CREATE TABLE event_subjects (digest TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (digest, seq));' +
        'CREATE TABLE components (purl TEXT NOT NULL, artifact TEXT NOT NULL, PRIMARY KEY (purl, artifact)) WITHOUT ROWID;' +
        'CREATE INDEX components_by_artifact ON components (artifact);',
    );
  },
  (db) => {
    db.exec(
      'CREATE TABLE checkpoints (seq INTEGER NOT NULL, head TEXT NOT NULL, time INTEGER NOT NULL, key_id TEXT NOT NULL, attachment TEXT NOT NULL);' +
        'CREATE INDEX checkpoints_by_seq ON checkpoints (seq);' +
        'CREATE TABLE host_packages (digest TEXT PRIMARY KEY, purl TEXT NOT NULL) WITHOUT ROWID;',
    );
  },
];

/** A checkpoint this store signed, as noted beside the chain (when the next one is due). */
export interface CheckpointNote {
  seq: number;
  head: Digest;
  /** When it was signed (ms). */
  time: number;
  keyId: string;
  /** Its attachment manifest in the store. */
  attachment: string;
}

/** An entry read back from the log. */
export interface AuditRecord {
  seq: number;
  hash: Digest;
  entry: AuditEntry;
}

/** One event to append, with its time, actor and the purls its artifact contains. */
export interface AuditAppend {
  event: AuditEvent;
  at: { time: number; actor: AuditActor };
  /** Purls the event's artifact contains, or a function of the log read inside the append's transaction. */
  components?: readonly string[] | ((log: AuditLog) => readonly string[]);
}

/** `event` with its data validated against its type's schema; AUDIT_EVENT_INVALID otherwise. */
function checkEvent(event: AuditEvent): AuditEvent {
  let problems: string[];
  // The two events recorded most often are checked without loading zod.
  if (event.type === 'build' || event.type === 'push') {
    problems = (event.type === 'build' ? buildEventProblems : pushEventProblems)(event.data);
    if (problems.length === 0) return event;
  } else {
    const parsed = parseEventData(event.type, event.data);
    if ('data' in parsed) return { type: event.type, data: parsed.data } as AuditEvent;
    problems = parsed.problems;
  }
  throw new AirlockError<AuditErrorCode>(
    'AUDIT_EVENT_INVALID',
    `audit event ${event.type}: ${problems.join('; ')}`,
    { hint: 'This is a bug in the code recording the event; the log was not changed.' },
  );
}

/** What `list` returns; every field narrows. */
export interface AuditFilter {
  /** Only entries at or after this time (ms). */
  since?: number;
  /** Only entries before this time (ms). */
  until?: number;
  /** Only these event types. */
  types?: readonly AuditEventType[];
  /** Only entries about this artifact digest. */
  subject?: string;
  /** Only entries whose event names this target (build, repro, attestation, signature). */
  target?: string;
  /** Only entries after this seq (for following the log live). */
  afterSeq?: number;
  /** At most this many, the newest (default: all). */
  limit?: number;
}

/** The audit log of a store. */
export class AuditLog {
  private readonly db: Database.Database;
  private readonly stmt: (sql: string) => Database.Statement;

  private constructor(db: Database.Database) {
    this.db = db;
    this.stmt = statementCache(db);
  }

  /** Opens (creating) the audit database at `file`; a newer schema is STORE_FORMAT. */
  static open(file: string, opts: { readonly?: boolean } = {}): AuditLog {
    if (!opts.readonly) mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, opts.readonly ? { readonly: true, fileMustExist: true } : {});
    try {
      db.pragma('busy_timeout = 30000');
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        migrateSchema(db, AUDIT_DB_MIGRATIONS, (version, supported) => {
          throw storeError(
            'STORE_FORMAT',
            `audit database ${file} has schema version ${version}; this Airlock reads ${supported}`,
            'Upgrade Airlock, or point AIRLOCK_HOME at a different store.',
            { path: file, version, supported },
          );
        });
      }
    } catch (err) {
      db.close();
      throw err;
    }
    return new AuditLog(db);
  }

  /**
   * Validates `event` against its schema and appends it after the current
   * head, atomically with respect to every other process appending.
   * `components` (purls the event's artifact contains) go to the lineage index.
   */
  append(
    event: AuditEvent,
    at: { time: number; actor: AuditActor },
    components: readonly string[] = [],
  ): AuditRecord {
    return this.appendAll([{ event, at, components }])[0]!;
  }

  /**
   * Validates every event first (nothing is written when one is invalid),
   * then appends them in order in one transaction (one commit): a build
   * records all of its targets at once. A `components` function runs inside
   * the transaction, after the entries before it are in the log.
   */
  appendAll(items: readonly AuditAppend[]): AuditRecord[] {
    const checked = items.map((i) => checkEvent(i.event));
    const write = this.db.transaction((): AuditRecord[] => {
      this.transactions++;
      let head = this.head();
      return items.map((item, n) => {
        const event = checked[n]!;
        const sealed = sealEntry(head, event, item.at.time, item.at.actor);
        head = { seq: sealed.entry.seq, hash: sealed.hash };
        this.stmt('INSERT INTO events (seq, type, time, json, hash) VALUES (?, ?, ?, ?, ?)').run(
          sealed.entry.seq,
          event.type,
          item.at.time,
          sealed.json,
          sealed.hash,
        );
        for (const d of new Set(eventSubjects(event)))
          this.stmt('INSERT OR IGNORE INTO event_subjects (digest, seq) VALUES (?, ?)').run(
            d,
            sealed.entry.seq,
          );
        const artifact = (event.data as { artifact?: string }).artifact;
        const components =
          typeof item.components === 'function' ? item.components(this) : (item.components ?? []);
        if (artifact)
          for (const purl of components)
            this.stmt('INSERT OR IGNORE INTO components (purl, artifact) VALUES (?, ?)').run(
              purl,
              artifact,
            );
        return { seq: sealed.entry.seq, hash: sealed.hash, entry: sealed.entry };
      });
    });
    return write.immediate();
  }

  /** Write transactions this handle has committed or tried (appends; for tests that count commits). */
  transactions = 0;

  /** The last entry's seq and hash. */
  head(): ChainHead {
    const row = this.stmt('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get() as
      { seq: number; hash: Digest } | undefined;
    return row ? { seq: row.seq, hash: row.hash } : { seq: 0, hash: null };
  }

  /** The hash of entry 1 (which log this is), undefined when empty. */
  first(): Digest | undefined {
    const row = this.stmt('SELECT hash FROM events WHERE seq = 1').get() as
      { hash: Digest } | undefined;
    return row?.hash;
  }

  /** The latest checkpoint noted (highest seq, then latest time); undefined when none. */
  lastCheckpoint(): CheckpointNote | undefined {
    const row = this.stmt(
      'SELECT seq, head, time, key_id AS keyId, attachment FROM checkpoints ORDER BY seq DESC, time DESC LIMIT 1',
    ).get() as CheckpointNote | undefined;
    return row;
  }

  /** Notes a checkpoint signed for this log (outside the chain). */
  noteCheckpoint(note: CheckpointNote): void {
    this.stmt(
      'INSERT INTO checkpoints (seq, head, time, key_id, attachment) VALUES (?, ?, ?, ?, ?)',
    ).run(note.seq, note.head, note.time, note.keyId, note.attachment);
  }

  /** The time of entry `seq` (ms), undefined when the log has no such entry. */
  timeOf(seq: number): number | undefined {
    const row = this.stmt('SELECT time FROM events WHERE seq = ?').get(seq) as
      { time: number } | undefined;
    return row?.time;
  }

  /** Number of entries. */
  count(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  }

  /** Entries matching `filter`, oldest first. */
  list(filter: AuditFilter = {}): AuditRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.since !== undefined) {
      where.push('time >= ?');
      args.push(filter.since);
    }
    if (filter.until !== undefined) {
      where.push('time < ?');
      args.push(filter.until);
    }
    if (filter.afterSeq !== undefined) {
      where.push('seq > ?');
      args.push(filter.afterSeq);
    }
    if (filter.types && filter.types.length > 0) {
      where.push(`type IN (${filter.types.map(() => '?').join(', ')})`);
      args.push(...filter.types);
    }
    if (filter.subject !== undefined) {
      where.push('seq IN (SELECT seq FROM event_subjects WHERE digest = ?)');
      args.push(filter.subject);
    }
    if (filter.target !== undefined) {
      where.push("json_extract(json, '$.data.target') = ?");
      args.push(filter.target);
    }
    const cond = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const sql =
      filter.limit !== undefined
        ? `SELECT * FROM (SELECT seq, json, hash FROM events ${cond} ORDER BY seq DESC LIMIT ${Math.max(0, Math.floor(filter.limit))}) ORDER BY seq`
        : `SELECT seq, json, hash FROM events ${cond} ORDER BY seq`;
    return (this.db.prepare(sql).all(...args) as { seq: number; json: string; hash: Digest }[]).map(
      (r) => ({ seq: r.seq, hash: r.hash, entry: JSON.parse(r.json) as AuditEntry }),
    );
  }

  /** Every stored row in seq order, as the chain verifier reads them (streamed). */
  rows(): IterableIterator<StoredEntry> {
    return this.stmt(
      'SELECT seq, type, time, json, hash FROM events ORDER BY seq',
    ).iterate() as IterableIterator<StoredEntry>;
  }

  /** Recomputes the whole chain and checks it extends every checkpoint given. */
  verify(checkpoints: readonly Checkpoint[] = []): ChainVerdict {
    return verifyChain(this.rows(), checkpoints);
  }

  /** The artifacts that contain `purl` (exact match), in byte order. */
  artifactsUsing(purl: string): string[] {
    return (
      this.stmt('SELECT artifact FROM components WHERE purl = ? ORDER BY artifact').all(purl) as {
        artifact: string;
      }[]
    ).map((r) => r.artifact);
  }

  /** The artifacts that contain a package of this purl prefix (`pkg:npm/ms@`: any version). */
  artifactsUsingPrefix(prefix: string): { purl: string; artifact: string }[] {
    return this.stmt(
      "SELECT purl, artifact FROM components WHERE purl >= ? AND purl < ? || x'ff' ORDER BY purl, artifact",
    ).all(prefix, prefix) as { purl: string; artifact: string }[];
  }

  /** The components indexed for `artifact`. */
  componentsOf(artifact: string): string[] {
    return (
      this.stmt('SELECT purl FROM components WHERE artifact = ? ORDER BY purl').all(artifact) as {
        purl: string;
      }[]
    ).map((r) => r.purl);
  }

  /** Indexes `purls` as components of `artifact` (outside the chain: the index is derived). */
  indexComponents(artifact: string, purls: readonly string[]): void {
    const ins = this.stmt('INSERT OR IGNORE INTO components (purl, artifact) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const p of purls) ins.run(p, artifact);
    })();
  }

  /** The package purl noted for a host binary of `digest` ('' = none), undefined when not yet asked. */
  hostPackage(digest: string): string | undefined {
    return (
      this.stmt('SELECT purl FROM host_packages WHERE digest = ?').get(digest) as
        { purl: string } | undefined
    )?.purl;
  }

  /** Notes which package (purl, '' for none) a host binary of `digest` belongs to. */
  noteHostPackage(digest: string, purl: string): void {
    this.stmt('INSERT OR REPLACE INTO host_packages (digest, purl) VALUES (?, ?)').run(
      digest,
      purl,
    );
  }

  /** The raw database, for tests that tamper with the log and for tools that read it. */
  get database(): Database.Database {
    return this.db;
  }

  close(): void {
    this.db.close();
  }
}
