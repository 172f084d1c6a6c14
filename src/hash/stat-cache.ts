import { lstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Digest } from '../core/digest.js';

/*
 * The stat cache, format v1: one SQLite table keyed by absolute path.
 *
 *   <store>/airlock/v1/build.sqlite
 *     files(path TEXT PRIMARY KEY, sig TEXT, digest TEXT, size INTEGER, hashed_ns TEXT)
 *
 * `sig` is "size:mtime_ns:ctime_ns:inode:device:mode" from lstat. A digest is
 * reused only when the file's sig is unchanged AND its mtime is older than the
 * moment hashing began by more than RACY_NS — the racy-timestamp rule of git:
 * a file modified within the same timestamp tick as it was hashed could change
 * again without changing its sig, so it is hashed again next time.
 */
export const RACY_NS = 100_000_000n;

/** Rows read per query when loading a range of the cache. */
const LOAD_PAGE = 4096;

/**
 * The stat cache's table. In build.sqlite it is created by that file's
 * migrations (builder/records.ts, which open it first); `open` and `memory`
 * create it only where nothing did.
 */
export const STAT_CACHE_TABLE =
  'CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, sig TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, hashed_ns TEXT NOT NULL)';

export interface FileSig {
  sig: string;
  mtimeNs: bigint;
}

/** The stat signature of an lstat result with bigint times. */
export function fileSig(st: {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  mode: bigint;
}): FileSig {
  return {
    sig: `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${st.dev}:${st.mode}`,
    mtimeNs: st.mtimeNs,
  };
}

interface Row {
  path: string;
  sig: string;
  digest: string;
  size: number;
  hashed_ns: string;
}

/** A persistent map from (path, stat signature) to content digest. */
export class StatCache {
  private readonly db: Database.Database;
  private readonly rows = new Map<string, Row>();
  private readonly loaded = new Set<string>();
  private allLoaded = false;
  private pending: Row[] = [];
  private readonly one: Database.Statement;

  private constructor(db: Database.Database) {
    this.db = db;
    this.one = db.prepare('SELECT path, sig, digest, size, hashed_ns FROM files WHERE path = ?');
  }

  /** Opens (creating when needed) the cache database at `file`. */
  static open(file: string): StatCache {
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 10000');
    db.pragma('synchronous = NORMAL');
    db.exec(STAT_CACHE_TABLE);
    return new StatCache(db);
  }

  /** An in-memory cache, for tests and one-off runs. */
  static memory(): StatCache {
    const db = new Database(':memory:');
    db.exec(STAT_CACHE_TABLE);
    return new StatCache(db);
  }

  /** Every row, loaded on demand (prune and tests); normal lookups go by directory. */
  private load(): Map<string, Row> {
    if (!this.allLoaded) {
      this.loadRange('', '\u{10ffff}');
      this.allLoaded = true;
    }
    return this.rows;
  }

  private loadRange(from: string, to: string): void {
    // Pages of JSON text built by SQLite, each parsed in one call: a third of
    // the cost of fetching the rows one by one, and, page by page, no text of
    // the whole range held at once (about 250 bytes a row: 25 MB at 100k files).
    const page = this.db
      .prepare(
        `SELECT json_group_array(json_array(path, sig, digest, size, hashed_ns)), max(path), count(*)
         FROM (SELECT * FROM files WHERE path > ? AND path < ? ORDER BY path LIMIT ${LOAD_PAGE})`,
      )
      .raw();
    const first = this.one.get(from) as Row | undefined;
    if (first && !this.rows.has(from)) this.rows.set(from, first);
    for (let after = from; ;) {
      const [text, last, count] = page.get(after, to) as [string, string | null, number];
      for (const [path, sig, digest, size, hashed_ns] of JSON.parse(text) as [
        string,
        string,
        string,
        number,
        string,
      ][]) {
        if (!this.rows.has(path)) this.rows.set(path, { path, sig, digest, size, hashed_ns });
      }
      if (count < LOAD_PAGE || last === null) return;
      after = last;
    }
  }

  /**
   * Loads, in one range query, every entry below `dir` (a project root, a
   * tree directory): the store holds the entries of every project, and a
   * build reads only its own. Paths outside preloaded directories are
   * looked up one by one.
   */
  preload(dir: string): void {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    if (prefix === '/' || this.allLoaded || this.loaded.has(prefix)) return;
    // '0' is the character after '/': the range is exactly the paths below dir.
    this.loadRange(prefix, `${prefix.slice(0, -1)}0`);
    this.loaded.add(prefix);
  }

  private row(path: string): Row | undefined {
    const hit = this.rows.get(path);
    if (hit || this.allLoaded || this.isPreloaded(path)) return hit;
    const row = this.one.get(path) as Row | undefined;
    if (row) this.rows.set(path, row);
    return row;
  }

  private isPreloaded(path: string): boolean {
    for (const prefix of this.loaded) if (path.startsWith(prefix)) return true;
    return false;
  }

  /** True when `path` has an entry at all (whatever its signature). */
  has(path: string): boolean {
    return this.row(path) !== undefined;
  }

  /** The cached digest for `path` if its signature is unchanged and not racy. */
  lookup(path: string, sig: FileSig): { digest: Digest; size: number } | undefined {
    const row = this.row(path);
    if (!row || row.sig !== sig.sig) return undefined;
    if (sig.mtimeNs >= BigInt(row.hashed_ns) - RACY_NS) return undefined;
    return { digest: row.digest as Digest, size: row.size };
  }

  /** Remembers a digest for `path`; `hashedNs` is the wall time before its bytes were read. */
  record(path: string, sig: FileSig, digest: Digest, size: number, hashedNs: bigint): void {
    const row: Row = { path, sig: sig.sig, digest, size, hashed_ns: hashedNs.toString() };
    this.rows.set(path, row);
    this.pending.push(row);
  }

  /** Writes what was recorded since the last flush, in one transaction. */
  flush(): void {
    if (this.pending.length === 0) return;
    const insert = this.db.prepare(
      'INSERT OR REPLACE INTO files (path, sig, digest, size, hashed_ns) VALUES (@path, @sig, @digest, @size, @hashed_ns)',
    );
    const rows = this.pending;
    this.pending = [];
    this.db.transaction(() => {
      for (const row of rows) insert.run(row);
    })();
  }

  /** Forgets entries whose file no longer exists (temp copies, deleted sources); returns how many. */
  prune(): number {
    this.flush();
    const gone = [...this.load().keys()].filter((path) => {
      try {
        lstatSync(path);
        return false;
      } catch {
        return true;
      }
    });
    const del = this.db.prepare('DELETE FROM files WHERE path = ?');
    this.db.transaction(() => {
      for (const path of gone) del.run(path);
    })();
    for (const path of gone) this.rows.delete(path);
    return gone.length;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

/** Wall-clock time in nanoseconds (used only for the racy-timestamp rule). */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
