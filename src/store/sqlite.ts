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
