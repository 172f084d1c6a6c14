import Database from 'better-sqlite3';

/** A per-connection cache of prepared statements: each SQL text is compiled once. */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let st = statements.get(sql);
    if (!st) {
      st = db.prepare(sql);
      statements.set(sql, st);
    }
    return st;
  };
}

/**
 * Throws (code SQLITE_NOTADB / SQLITE_CORRUPT) when the SQLite file at `file`
 * is not a sound database; a missing file is sound (it will be created).
 */
export function checkSqliteFile(file: string): void {
  const db = new Database(file, { fileMustExist: true, timeout: 10_000 });
  try {
    const result = db.pragma('quick_check', { simple: true });
    if (result !== 'ok') {
      throw Object.assign(new Error(`quick_check: ${String(result)}`), { code: 'SQLITE_CORRUPT' });
    }
  } finally {
    db.close();
  }
}

/**
 * One step of a database's schema: brings it from version `index` to
 * `index + 1` (the array index is the version it starts from).
 */
export type SchemaStep = (db: Database.Database) => void;

/**
 * Brings the database to `steps.length` (its `PRAGMA user_version`) by
 * running, in order and in one transaction, every step from its current
 * version on; a database already there is untouched. A version above
 * `steps.length` (written by a newer Airlock) is passed to `tooNew`, which throws.
 */
export function migrateSchema(
  db: Database.Database,
  steps: readonly SchemaStep[],
  tooNew: (version: number, supported: number) => never,
  transaction: (fn: () => void) => void = (fn) => db.transaction(fn).immediate(),
): void {
  const current = (): number => db.pragma('user_version', { simple: true }) as number;
  if (current() === steps.length) return;
  transaction(() => {
    const version = current();
    if (version > steps.length) tooNew(version, steps.length);
    for (let v = version; v < steps.length; v++) steps[v]!(db);
    db.pragma(`user_version = ${steps.length}`);
  });
}

/** True when the database has a table named `name`. */
export function hasTable(db: Database.Database, name: string): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined
  );
}
