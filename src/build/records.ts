import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { statementCache } from '../store/sqlite.js';
import type { Digest } from '../core/digest.js';

/*
 * Build bookkeeping, format v1, beside the stat cache in one SQLite file:
 *
 *   <store>/airlock/v1/build.sqlite
 *     last_build2(root TEXT, target TEXT, key TEXT, record TEXT, PRIMARY KEY (root, target))
 *       key: the action key; record: digest of a BuildRecord blob in the store (for `airlock why`)
 *     sde(key TEXT PRIMARY KEY, epoch INTEGER)
 *       key: "<HEAD commit>\0<pathspecs>" → SOURCE_DATE_EPOCH from git log
 *     config(key TEXT PRIMARY KEY, json TEXT)
 *       key: digest of (config path, its bytes, config format) → the validated
 *       model, so a no-op build need not load the YAML parser and schema
 *     action_origin(key TEXT PRIMARY KEY, result TEXT, repository TEXT, signer TEXT, envelope BLOB)
 *       where the action-cache entry key → result came from when it was restored
 *       from a remote cache: the repository, the signer's key id (or "any" when
 *       trust was `any`) and the signature envelope, so fsck can re-check it. No
 *       row, or a row for another result: the entry was built on this machine.
 */

/** Where a remote action-cache entry came from. */
export interface ActionOrigin {
  repository: string;
  /** Key id (sha256 of SPKI DER) of the trusted builder that signed it, or `any`. */
  signer: string;
  /** The DSSE envelope it carried, if any. */
  envelope?: Buffer;
}
/** What `airlock log` reads: every step's log blobs from a target's last run, and the step that failed. */
export interface StepLogs {
  steps: { step: number; command: string; stdout: Digest; stderr: Digest; exitCode?: number }[];
  /** 0-based index of the failed step, when the run failed. */
  failed?: number;
}

export class BuildRecords {
  /** Prepared statements, compiled once per connection. */
  private readonly stmt: (sql: string) => Database.Statement;

  private readonly db: Database.Database;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.stmt = statementCache(this.db);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS last_build2 (root TEXT NOT NULL, target TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (root, target));' +
        'CREATE TABLE IF NOT EXISTS sde (key TEXT PRIMARY KEY, epoch INTEGER NOT NULL);' +
        'CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, json TEXT NOT NULL);' +
        'CREATE TABLE IF NOT EXISTS step_logs (root TEXT NOT NULL, target TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (root, target));' +
        'CREATE TABLE IF NOT EXISTS action_origin (key TEXT PRIMARY KEY, result TEXT NOT NULL, repository TEXT NOT NULL, signer TEXT NOT NULL, envelope BLOB);',
    );
  }

  /** The step logs of the last run of a target (failed or not), for `airlock log`. */
  stepLogs(root: string, target: string): StepLogs | undefined {
    const row = this.stmt('SELECT json FROM step_logs WHERE root = ? AND target = ?').get(
      root,
      target,
    ) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as StepLogs) : undefined;
  }

  setStepLogs(root: string, target: string, logs: StepLogs): void {
    this.stmt('INSERT OR REPLACE INTO step_logs (root, target, json) VALUES (?, ?, ?)').run(
      root,
      target,
      JSON.stringify(logs),
    );
  }

  /** The last build of a target of the project at `root`: its action key and BuildRecord blob. */
  lastBuild(root: string, target: string): { key: Digest; record: Digest } | undefined {
    return this.stmt('SELECT key, record FROM last_build2 WHERE root = ? AND target = ?').get(
      root,
      target,
    ) as { key: Digest; record: Digest } | undefined;
  }

  setLastBuild(root: string, target: string, key: Digest, record: Digest): void {
    this.stmt(
      'INSERT OR REPLACE INTO last_build2 (root, target, key, record) VALUES (?, ?, ?, ?)',
    ).run(root, target, key, record);
  }

  sde(key: string): number | undefined {
    const row = this.stmt('SELECT epoch FROM sde WHERE key = ?').get(key) as
      { epoch: number } | undefined;
    return row?.epoch;
  }

  setSde(key: string, epoch: number): void {
    this.stmt('INSERT OR REPLACE INTO sde (key, epoch) VALUES (?, ?)').run(key, epoch);
  }

  config(key: string): string | undefined {
    const row = this.stmt('SELECT json FROM config WHERE key = ?').get(key) as
      { json: string } | undefined;
    return row?.json;
  }

  setConfig(key: string, json: string): void {
    this.stmt('INSERT OR REPLACE INTO config (key, json) VALUES (?, ?)').run(key, json);
  }

  /** The remote origin of the cache entry `key → result`; undefined when it was built here. */
  origin(key: Digest, result: Digest): ActionOrigin | undefined {
    const row = this.stmt(
      'SELECT repository, signer, envelope FROM action_origin WHERE key = ? AND result = ?',
    ).get(key, result) as
      { repository: string; signer: string; envelope: Buffer | null } | undefined;
    if (!row) return undefined;
    return {
      repository: row.repository,
      signer: row.signer,
      ...(row.envelope ? { envelope: row.envelope } : {}),
    };
  }

  /** Remembers (origin given) or forgets (undefined: built here) where `key → result` came from. */
  setOrigin(key: Digest, result: Digest, origin: ActionOrigin | undefined): void {
    if (!origin) {
      this.stmt('DELETE FROM action_origin WHERE key = ?').run(key);
      return;
    }
    this.stmt(
      'INSERT OR REPLACE INTO action_origin (key, result, repository, signer, envelope) VALUES (?, ?, ?, ?, ?)',
    ).run(key, result, origin.repository, origin.signer, origin.envelope ?? null);
  }

  /** Every remembered remote origin. */
  origins(): ({ key: Digest; result: Digest } & ActionOrigin)[] {
    const rows = this.stmt(
      'SELECT key, result, repository, signer, envelope FROM action_origin',
    ).all() as {
      key: Digest;
      result: Digest;
      repository: string;
      signer: string;
      envelope: Buffer | null;
    }[];
    return rows.map((r) => ({
      key: r.key,
      result: r.result,
      repository: r.repository,
      signer: r.signer,
      ...(r.envelope ? { envelope: r.envelope } : {}),
    }));
  }

  /** Forgets origins whose action-cache entry no longer maps to the same result; returns how many. */
  pruneOrigins(current: (key: Digest) => Digest | undefined): number {
    let removed = 0;
    for (const o of this.origins()) {
      if (current(o.key) === o.result) continue;
      this.stmt('DELETE FROM action_origin WHERE key = ? AND result = ?').run(o.key, o.result);
      removed++;
    }
    return removed;
  }

  /** Empties the derived caches (SOURCE_DATE_EPOCH per commit, parsed configs); returns rows removed. */
  clearCaches(): number {
    return (
      this.db.prepare('DELETE FROM sde').run().changes +
      this.db.prepare('DELETE FROM config').run().changes
    );
  }

  close(): void {
    this.db.close();
  }
}
