import { canonicalJson } from '../core/canonical.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Digest } from '../core/digest.js';
import { STAT_CACHE_TABLE } from '../hash/stat-cache.js';
import { storeError } from '../store/index.js';
import { hasTable, migrateSchema, statementCache, type SchemaStep } from '../store/sqlite.js';

/*
 * Build bookkeeping beside the stat cache in one SQLite file, schema version
 * BUILD_DB_MIGRATIONS.length (PRAGMA user_version):
 *
 *   <store>/airlock/v1/build.sqlite
 *     files(path, sig, digest, size, hashed_ns)      the stat cache (hash/stat-cache.ts)
 *     step_logs(root TEXT, target TEXT, json TEXT)   each target's last run's log blobs (StepLogs), for `airlock log`
 *     builds(id INTEGER PRIMARY KEY AUTOINCREMENT, root TEXT, target TEXT, key TEXT,
 *            record TEXT, result TEXT, artifact TEXT, source_commit TEXT, created_at INTEGER)
 *       append-only build history: one row per recorded build whose action key or
 *       source commit differs from the target's previous row. key: the action key
 *       (NULL only in rows carried over from before keys were kept); record: digest of
 *       a BuildRecord blob (for `airlock why`); result: the ActionResult digest;
 *       artifact: the manifest digest it was tagged with; source_commit: git HEAD of the
 *       project, when it is a git work tree; created_at: ms since the epoch.
 *       Indexed by (root, target, id), key, artifact and source_commit.
 *     sde(key TEXT PRIMARY KEY, epoch INTEGER)
 *       key: "<HEAD commit>\0<pathspecs>" → SOURCE_DATE_EPOCH from git log
 *     config(key TEXT PRIMARY KEY, json TEXT)
 *       key: digest of (config path, its bytes, config format, Airlock version) → the
 *       validated model, so a no-op build need not load the YAML parser and schema
 *     provenance_indexes(digest TEXT PRIMARY KEY)
 *       referrers indexes (by digest, so the fact never goes stale) seen to list a
 *       provenance statement: a cached target whose artifact's referrers tag still
 *       names one has its evidence, and its index blob is not read again
 *     npm_licenses(tarball TEXT PRIMARY KEY, license TEXT)
 *       the license a fetched npm tarball's own package.json declares (NULL: none),
 *       by the tarball's sha256 (the fact never goes stale): noted when the offline
 *       install unpacks it, so SBOMs need not read the tarball again
 *     action_origin(key TEXT PRIMARY KEY, result TEXT, repository TEXT, signer TEXT, envelope BLOB)
 *       where the action-cache entry key → result came from when it was restored
 *       from a remote cache: the repository, the signer's key id (or "any" when
 *       trust was `any`) and the signature envelope, so fsck can re-check it. No
 *       row, or a row for another result: the entry was built on this machine.
 *
 * Before versions were kept (user_version 0) the file held last_build(root,
 * target, record) and later last_build2(root, target, key, record): the latest
 * build per target only. Migration 1 carries those rows into builds.
 */

/**
 * The schema of build.sqlite, one step per version (the index is the version
 * a step starts from). A new version appends a step; released steps are never
 * edited; each has a test that opens a database of the version before.
 */
export const BUILD_DB_MIGRATIONS: readonly SchemaStep[] = [
  // 0 → 1: every table; the last-build tables of unversioned files become the history.
  (db) => {
    db.exec(
      `${STAT_CACHE_TABLE};` +
        'CREATE TABLE IF NOT EXISTS sde (key TEXT PRIMARY KEY, epoch INTEGER NOT NULL);' +
        'CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, json TEXT NOT NULL);' +
        'CREATE TABLE IF NOT EXISTS action_origin (key TEXT PRIMARY KEY, result TEXT NOT NULL, repository TEXT NOT NULL, signer TEXT NOT NULL, envelope BLOB);' +
        'CREATE TABLE builds (id INTEGER PRIMARY KEY AUTOINCREMENT, root TEXT NOT NULL, target TEXT NOT NULL, key TEXT, record TEXT NOT NULL, result TEXT, artifact TEXT, source_commit TEXT, created_at INTEGER NOT NULL);' +
        'CREATE INDEX builds_by_target ON builds (root, target, id);' +
        'CREATE INDEX builds_by_key ON builds (key);' +
        'CREATE INDEX builds_by_artifact ON builds (artifact);' +
        'CREATE INDEX builds_by_commit ON builds (source_commit);',
    );
    if (hasTable(db, 'last_build')) {
      db.exec(
        'INSERT INTO builds (root, target, key, record, created_at) SELECT root, target, NULL, record, 0 FROM last_build ' +
          "WHERE NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'last_build2');" +
          'DROP TABLE last_build;',
      );
    }
    if (hasTable(db, 'last_build2')) {
      db.exec(
        'INSERT INTO builds (root, target, key, record, created_at) SELECT root, target, key, record, 0 FROM last_build2;' +
          'DROP TABLE last_build2;',
      );
    }
  },
  // 1 → 2: the step logs of each target's last run, for `airlock log`.
  (db) => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS step_logs (root TEXT NOT NULL, target TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (root, target));',
    );
  },
  // 2 → 3: referrers indexes known to list a provenance statement.
  (db) => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS provenance_indexes (digest TEXT PRIMARY KEY) WITHOUT ROWID;',
    );
  },
  // 3 → 4: the license of each npm tarball, noted when it is unpacked.
  (db) => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS npm_licenses (tarball TEXT PRIMARY KEY, license TEXT) WITHOUT ROWID;',
    );
  },
];

/** What `airlock log` reads: every step's log blobs from a target's last run, and the step that failed. */
export interface StepLogs {
  steps: { step: number; command: string; stdout: Digest; stderr: Digest; exitCode?: number }[];
  /** 0-based index of the failed step, when the run failed. */
  failed?: number;
}

/** One build in the history. */
export interface BuildHistoryEntry {
  /** Increases with every build recorded in this store. */
  id: number;
  /** The project directory. */
  root: string;
  target: string;
  /** The action key (absent only for builds carried over from before keys were kept). */
  key?: Digest;
  /** The BuildRecord blob: action and input tree. */
  record: Digest;
  /** The ActionResult blob. */
  result?: Digest;
  /** The manifest digest of the artifact it tagged. */
  artifact?: Digest;
  /** git HEAD of the project when it was built. */
  sourceCommit?: string;
  /** ms since the epoch, from the build's clock (0 for carried-over builds). */
  createdAt: number;
}

interface BuildRow {
  id: number;
  root: string;
  target: string;
  key: string | null;
  record: string;
  result: string | null;
  artifact: string | null;
  source_commit: string | null;
  created_at: number;
}

const BUILD_COLUMNS = 'id, root, target, key, record, result, artifact, source_commit, created_at';

function entryOf(r: BuildRow): BuildHistoryEntry {
  return {
    id: r.id,
    root: r.root,
    target: r.target,
    ...(r.key !== null ? { key: r.key as Digest } : {}),
    record: r.record as Digest,
    ...(r.result !== null ? { result: r.result as Digest } : {}),
    ...(r.artifact !== null ? { artifact: r.artifact as Digest } : {}),
    ...(r.source_commit !== null ? { sourceCommit: r.source_commit } : {}),
    createdAt: r.created_at,
  };
}

/** Where a remote action-cache entry came from. */
export interface ActionOrigin {
  repository: string;
  /** Key id (sha256 of SPKI DER) of the trusted builder that signed it, or `any`. */
  signer: string;
  /** The DSSE envelope it carried, if any. */
  envelope?: Buffer;
}
export class BuildRecords {
  /** Prepared statements, compiled once per connection. */
  private readonly stmt: (sql: string) => Database.Statement;

  private readonly db: Database.Database;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.stmt = statementCache(this.db);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 10000');
      migrateSchema(this.db, BUILD_DB_MIGRATIONS, (version, supported) => {
        throw storeError(
          'STORE_FORMAT',
          `build database ${file} has schema version ${version}; this Airlock reads ${supported}`,
          'Upgrade Airlock, or point AIRLOCK_HOME at a different store.',
          { path: file, version, supported },
        );
      });
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** The latest build of a target of the project at `root`: its action key and BuildRecord blob. */
  lastBuild(root: string, target: string): BuildHistoryEntry | undefined {
    const row = this.stmt(
      `SELECT ${BUILD_COLUMNS} FROM builds WHERE root = ? AND target = ? ORDER BY id DESC LIMIT 1`,
    ).get(root, target) as BuildRow | undefined;
    return row && entryOf(row);
  }

  /**
   * Appends a build to the history, unless the target's latest build has the
   * same action key and source commit (a no-op build adds nothing).
   */
  appendBuild(build: Omit<BuildHistoryEntry, 'id'>): void {
    const last = this.lastBuild(build.root, build.target);
    if (
      last !== undefined &&
      last.key === build.key &&
      last.sourceCommit === build.sourceCommit &&
      last.artifact === build.artifact
    )
      return;
    this.stmt(
      'INSERT INTO builds (root, target, key, record, result, artifact, source_commit, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      build.root,
      build.target,
      build.key ?? null,
      build.record,
      build.result ?? null,
      build.artifact ?? null,
      build.sourceCommit ?? null,
      build.createdAt,
    );
  }

  /**
   * The latest build of a target whose artifact digest, action key or source
   * commit (a full commit id, or a prefix of at least 7 hex digits) is `against`.
   */
  findBuild(root: string, target: string, against: string): BuildHistoryEntry | undefined {
    const commitPrefix = /^[0-9a-f]{7,40}$/.test(against) ? `${against}%` : undefined;
    const row = this.stmt(
      `SELECT ${BUILD_COLUMNS} FROM builds WHERE root = ? AND target = ? AND (artifact = ? OR key = ? OR source_commit LIKE ?) ORDER BY id DESC LIMIT 1`,
    ).get(root, target, against, against, commitPrefix ?? '\0') as BuildRow | undefined;
    return row && entryOf(row);
  }

  /** Every recorded build that produced the artifact (manifest digest) or result `digest`, newest first. */
  buildsOf(digest: Digest): BuildHistoryEntry[] {
    return (
      this.stmt(
        `SELECT ${BUILD_COLUMNS} FROM builds WHERE artifact = ? OR result = ? ORDER BY id DESC`,
      ).all(digest, digest) as BuildRow[]
    ).map(entryOf);
  }

  /** The history of a target, newest first. */
  history(root: string, target: string): BuildHistoryEntry[] {
    return (
      this.stmt(
        `SELECT ${BUILD_COLUMNS} FROM builds WHERE root = ? AND target = ? ORDER BY id DESC`,
      ).all(root, target) as BuildRow[]
    ).map(entryOf);
  }

  /**
   * gc's retention for the history: forgets builds recorded before `cutoff`
   * (ms) except the latest of each target (`dryRun`: only counts them);
   * returns how many and the BuildRecord blobs of the builds kept, which gc keeps.
   */
  pruneBuilds(cutoff: number, dryRun = false): { kept: Digest[]; removed: number } {
    const old = 'created_at < ? AND id NOT IN (SELECT MAX(id) FROM builds GROUP BY root, target)';
    const removed = dryRun
      ? (this.stmt(`SELECT COUNT(*) AS n FROM builds WHERE ${old}`).get(cutoff) as { n: number }).n
      : this.stmt(`DELETE FROM builds WHERE ${old}`).run(cutoff).changes;
    const kept = (
      this.stmt(`SELECT DISTINCT record FROM builds WHERE NOT (${old})`).all(cutoff) as {
        record: Digest;
      }[]
    ).map((r) => r.record);
    return { kept, removed };
  }

  /** The step logs of the last run of a target (failed or not), for `airlock log`. */
  stepLogs(root: string, target: string): StepLogs | undefined {
    const row = this.stmt('SELECT json FROM step_logs WHERE root = ? AND target = ?').get(
      root,
      target,
    ) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as StepLogs) : undefined;
  }

  /** Remembers a target's last run's logs; the same logs again (a no-op build) write nothing. */
  setStepLogs(root: string, target: string, logs: StepLogs): void {
    // Canonical: the logs of a run and of its cached result (keys in another order) compare equal.
    const json = canonicalJson(logs);
    const row = this.stmt('SELECT json FROM step_logs WHERE root = ? AND target = ?').get(
      root,
      target,
    ) as { json: string } | undefined;
    if (row?.json === json) return;
    this.stmt('INSERT OR REPLACE INTO step_logs (root, target, json) VALUES (?, ?, ?)').run(
      root,
      target,
      json,
    );
  }

  sde(key: string): number | undefined {
    const row = this.stmt('SELECT epoch FROM sde WHERE key = ?').get(key) as
      { epoch: number } | undefined;
    return row?.epoch;
  }

  /** True when the referrers index `digest` was seen to list a provenance statement. */
  listsProvenance(digest: Digest): boolean {
    return this.stmt('SELECT 1 FROM provenance_indexes WHERE digest = ?').get(digest) !== undefined;
  }

  /** Notes that the referrers index `digest` lists a provenance statement (it is immutable). */
  noteProvenance(digest: Digest): void {
    this.stmt('INSERT OR IGNORE INTO provenance_indexes (digest) VALUES (?)').run(digest);
  }

  /**
   * The license noted for the npm tarball `tarball` (a sha256 of the store):
   * null when its package.json declares none, undefined when nothing was noted.
   */
  npmLicense(tarball: Digest): string | null | undefined {
    const row = this.stmt('SELECT license FROM npm_licenses WHERE tarball = ?').get(tarball) as
      { license: string | null } | undefined;
    return row?.license;
  }

  /** Notes the license of each npm tarball (null: none declared), in one transaction. */
  noteNpmLicenses(licenses: Iterable<readonly [Digest, string | null]>): void {
    const put = this.stmt('INSERT OR REPLACE INTO npm_licenses (tarball, license) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const [tarball, license] of licenses) put.run(tarball, license);
    })();
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
