import Database from 'better-sqlite3';
import { migrateSchema, statementCache, type SchemaStep } from './sqlite.js';
import { errnoCode } from '../core/index.js';
import { storeError } from './errors.js';

export interface TagRow {
  name: string;
  descriptor: string;
  updated_at: number;
}

export interface ActionRow {
  key: string;
  result: string;
  created_at: number;
}

const BUSY_TIMEOUT_MS = 15_000;

/**
 * The schema of meta.sqlite, one step per version (user_version = the number
 * of steps run). A new version appends a step; a step is never edited once
 * released, and each has a test that opens a database of the version before.
 */
export const META_MIGRATIONS: readonly SchemaStep[] = [
  // 0 → 1: tags and the action cache.
  (db) =>
    db.exec(`
      CREATE TABLE IF NOT EXISTS tags (
        name TEXT PRIMARY KEY NOT NULL,
        descriptor TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS actions (
        key TEXT PRIMARY KEY NOT NULL,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `),
];

// Blocks the thread briefly; only used while another process holds a schema lock.
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Retries `fn` while SQLite reports the database busy beyond its own busy handler. */
function retryBusy<T>(fn: () => T): T {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      const code = errnoCode(err);
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || attempt >= 200) throw err;
      sleepSync(10 + (attempt % 10) * 5);
    }
  }
}

/**
 * Airlock's metadata database (tags, action cache): WAL mode, a busy timeout,
 * and every write that must be serialized runs in a BEGIN IMMEDIATE transaction.
 */
export class MetaDb {
  /** Prepared statements, compiled once per connection. */
  private readonly stmt: (sql: string) => Database.Statement;

  private readonly db: Database.Database;

  /** Opens (creating) the database; `check` runs SQLite's quick_check and throws SQLITE_CORRUPT on damage. */
  constructor(
    readonly path: string,
    opts: { check?: boolean } = {},
  ) {
    this.db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    this.stmt = statementCache(this.db);
    try {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      retryBusy(() => this.db.pragma('journal_mode = WAL'));
      this.db.pragma('synchronous = FULL');
      if (opts.check === true) {
        const result = this.db.pragma('quick_check', { simple: true });
        if (result !== 'ok') {
          throw Object.assign(new Error(`quick_check: ${String(result)}`), {
            code: 'SQLITE_CORRUPT',
          });
        }
      }
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** Brings the schema to META_SCHEMA_VERSION; refuses a database written by a newer Airlock. */
  private migrate(): void {
    migrateSchema(
      this.db,
      META_MIGRATIONS,
      (version, supported) => {
        throw storeError(
          'STORE_FORMAT',
          `store metadata ${this.path} has schema version ${version}; this Airlock reads ${supported}`,
          'Upgrade Airlock, or point AIRLOCK_HOME at a different store.',
          { path: this.path, version, supported },
        );
      },
      (fn) => this.immediate(fn),
    );
  }

  /** Runs `fn` inside BEGIN IMMEDIATE … COMMIT, so writers across processes take turns. */
  immediate<T>(fn: () => T): T {
    return retryBusy(() => this.db.transaction(fn).immediate());
  }

  getTag(name: string): TagRow | undefined {
    return this.stmt('SELECT name, descriptor, updated_at FROM tags WHERE name = ?').get(name) as
      TagRow | undefined;
  }

  listTags(): TagRow[] {
    return this.stmt('SELECT name, descriptor, updated_at FROM tags').all() as TagRow[];
  }

  upsertTag(name: string, descriptor: string, now: number): void {
    this.stmt(
      'INSERT INTO tags (name, descriptor, updated_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT(name) DO UPDATE SET descriptor = excluded.descriptor, updated_at = excluded.updated_at',
    ).run(name, descriptor, now);
  }

  deleteTag(name: string): boolean {
    return this.stmt('DELETE FROM tags WHERE name = ?').run(name).changes > 0;
  }

  getAction(key: string): ActionRow | undefined {
    return this.stmt('SELECT key, result, created_at FROM actions WHERE key = ?').get(key) as
      ActionRow | undefined;
  }

  listActions(): ActionRow[] {
    return this.stmt('SELECT key, result, created_at FROM actions').all() as ActionRow[];
  }

  putAction(key: string, result: string, now: number): void {
    retryBusy(() =>
      this.stmt('INSERT OR REPLACE INTO actions (key, result, created_at) VALUES (?, ?, ?)').run(
        key,
        result,
        now,
      ),
    );
  }

  deleteAction(key: string): boolean {
    return retryBusy(() => this.stmt('DELETE FROM actions WHERE key = ?').run(key).changes > 0);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
