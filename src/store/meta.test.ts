import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { META_SCHEMA_VERSION } from './layout.js';
import { META_MIGRATIONS, MetaDb } from './meta.js';
import { migrateSchema } from './sqlite.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-meta-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const userVersion = (file: string): number => {
  const db = new Database(file);
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
};

describe('migrateSchema', () => {
  const tooNew = (v: number, s: number): never => {
    throw new Error(`version ${v} > ${s}`);
  };

  it('runs each step from the current version on, once, in order', () => {
    const db = new Database(':memory:');
    const ran: number[] = [];
    const steps = [0, 1, 2].map((i) => () => void ran.push(i));
    db.pragma('user_version = 1');
    migrateSchema(db, steps, tooNew);
    expect(ran).toEqual([1, 2]);
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    migrateSchema(db, steps, tooNew);
    expect(ran).toEqual([1, 2]);
  });

  it('rolls back every step when one fails, leaving the version unchanged', () => {
    const db = new Database(':memory:');
    const steps = [
      (d: Database.Database) => d.exec('CREATE TABLE a (x)'),
      () => {
        throw new Error('step 2 failed');
      },
    ];
    expect(() => migrateSchema(db, steps, tooNew)).toThrow('step 2 failed');
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").get()).toBeUndefined();
  });

  it('hands a newer version to tooNew', () => {
    const db = new Database(':memory:');
    db.pragma('user_version = 9');
    expect(() => migrateSchema(db, [() => undefined], tooNew)).toThrow('version 9 > 1');
  });
});

describe('meta.sqlite migrations', () => {
  it('has one step per schema version', () => {
    expect(META_MIGRATIONS).toHaveLength(META_SCHEMA_VERSION);
  });

  it('creates the current schema in a new file', () => {
    const file = join(dir, 'meta.sqlite');
    new MetaDb(file).close();
    expect(userVersion(file)).toBe(META_SCHEMA_VERSION);
  });

  describe('from version 0 (tables made before the version was kept)', () => {
    it('keeps every tag and action-cache entry', () => {
      const file = join(dir, 'meta.sqlite');
      const old = new Database(file);
      old.exec(
        'CREATE TABLE tags (name TEXT PRIMARY KEY NOT NULL, descriptor TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;' +
          'CREATE TABLE actions (key TEXT PRIMARY KEY NOT NULL, result TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;' +
          `INSERT INTO tags VALUES ('p/a', '{"digest":"sha256:aa"}', 5);` +
          "INSERT INTO actions VALUES ('sha256:k', 'sha256:r', 7);",
      );
      old.close();
      const meta = new MetaDb(file);
      try {
        expect(meta.getTag('p/a')).toEqual({
          name: 'p/a',
          descriptor: '{"digest":"sha256:aa"}',
          updated_at: 5,
        });
        expect(meta.getAction('sha256:k')).toEqual({
          key: 'sha256:k',
          result: 'sha256:r',
          created_at: 7,
        });
      } finally {
        meta.close();
      }
      expect(userVersion(file)).toBe(META_SCHEMA_VERSION);
    });
  });

  it('refuses a database of a newer Airlock with STORE_FORMAT', () => {
    const file = join(dir, 'meta.sqlite');
    const newer = new Database(file);
    newer.pragma(`user_version = ${META_SCHEMA_VERSION + 1}`);
    newer.close();
    expect(() => new MetaDb(file)).toThrow(expect.objectContaining({ code: 'STORE_FORMAT' }));
  });
});
