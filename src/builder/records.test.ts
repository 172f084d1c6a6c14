import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../core/digest.js';
import { StatCache } from '../hash/stat-cache.js';
import { BUILD_DB_MIGRATIONS, BuildRecords } from './records.js';

const d = (c: string): Digest => `sha256:${c.repeat(64)}`;

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-records-'));
  file = join(dir, 'build.sqlite');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A build.sqlite in an older shape, written directly with SQL. */
function oldFile(sql: string): void {
  const db = new Database(file);
  db.exec(sql);
  db.close();
}

function tables(): string[] {
  const db = new Database(file);
  try {
    return (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    )
      .map((r) => r.name)
      .filter((n) => !n.startsWith('sqlite_'));
  } finally {
    db.close();
  }
}

function version(): number {
  const db = new Database(file);
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

// The unversioned shape written before migrations (user_version 0).
const UNVERSIONED_WITH_KEYS =
  'CREATE TABLE files (path TEXT PRIMARY KEY, sig TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, hashed_ns TEXT NOT NULL);' +
  'CREATE TABLE last_build2 (root TEXT NOT NULL, target TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (root, target));' +
  'CREATE TABLE sde (key TEXT PRIMARY KEY, epoch INTEGER NOT NULL);' +
  'CREATE TABLE config (key TEXT PRIMARY KEY, json TEXT NOT NULL);' +
  'CREATE TABLE action_origin (key TEXT PRIMARY KEY, result TEXT NOT NULL, repository TEXT NOT NULL, signer TEXT NOT NULL, envelope BLOB);';

describe('build.sqlite migrations', () => {
  it('creates every table of the current version in a new file', () => {
    new BuildRecords(file).close();
    expect(version()).toBe(BUILD_DB_MIGRATIONS.length);
    expect(tables()).toEqual([
      'action_origin',
      'builds',
      'config',
      'files',
      'npm_licenses',
      'provenance_indexes',
      'sde',
      'step_logs',
    ]);
  });

  describe('from version 0 with last_build2 (the latest build per target, with its key)', () => {
    it('carries each last build into the history and keeps every other row', () => {
      oldFile(
        UNVERSIONED_WITH_KEYS +
          `INSERT INTO last_build2 VALUES ('/p', 'app', '${d('1')}', '${d('2')}');` +
          `INSERT INTO sde VALUES ('head-src', 1700000000);` +
          `INSERT INTO config VALUES ('ck', '{"name":"p"}');` +
          `INSERT INTO action_origin VALUES ('${d('3')}', '${d('4')}', 'r/cache', 'kid', x'00ff');` +
          `INSERT INTO files VALUES ('/p/a.txt', '1:2:3:4:5:6', '${d('5')}', 1, '99');`,
      );
      const records = new BuildRecords(file);
      try {
        expect(records.lastBuild('/p', 'app')).toMatchObject({ key: d('1'), record: d('2') });
        expect(records.sde('head-src')).toBe(1700000000);
        expect(records.config('ck')).toBe('{"name":"p"}');
        expect(records.origin(d('3'), d('4'))).toEqual({
          repository: 'r/cache',
          signer: 'kid',
          envelope: Buffer.from([0, 255]),
        });
      } finally {
        records.close();
      }
      const cache = StatCache.open(file);
      try {
        expect(cache.has('/p/a.txt')).toBe(true);
      } finally {
        cache.close();
      }
      expect(tables()).not.toContain('last_build2');
      expect(version()).toBe(BUILD_DB_MIGRATIONS.length);
    });
  });

  describe('from version 0 with last_build (before action keys were kept)', () => {
    it('carries each last build into the history without a key', () => {
      oldFile(
        'CREATE TABLE last_build (root TEXT NOT NULL, target TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (root, target));' +
          'CREATE TABLE sde (key TEXT PRIMARY KEY, epoch INTEGER NOT NULL);' +
          `INSERT INTO last_build VALUES ('/p', 'app', '${d('7')}');`,
      );
      const records = new BuildRecords(file);
      try {
        const last = records.lastBuild('/p', 'app');
        expect(last).toMatchObject({ record: d('7') });
        expect(last?.key).toBeUndefined();
      } finally {
        records.close();
      }
      expect(tables()).not.toContain('last_build');
    });

    it('prefers last_build2 when a file holds both', () => {
      oldFile(
        UNVERSIONED_WITH_KEYS +
          'CREATE TABLE last_build (root TEXT NOT NULL, target TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (root, target));' +
          `INSERT INTO last_build VALUES ('/p', 'app', '${d('7')}');` +
          `INSERT INTO last_build2 VALUES ('/p', 'app', '${d('1')}', '${d('2')}');`,
      );
      const records = new BuildRecords(file);
      try {
        expect(records.history('/p', 'app').map((b) => b.record)).toEqual([d('2')]);
      } finally {
        records.close();
      }
    });
  });

  describe('from version 1 (no step logs yet)', () => {
    it('adds the step-log table and keeps the history', () => {
      const db = new Database(file);
      BUILD_DB_MIGRATIONS[0]!(db);
      db.exec(
        `INSERT INTO builds (root, target, key, record, created_at) VALUES ('/p', 'app', '${d('1')}', '${d('2')}', 5);` +
          'PRAGMA user_version = 1',
      );
      db.close();
      const records = new BuildRecords(file);
      try {
        expect(records.history('/p', 'app').map((b) => b.record)).toEqual([d('2')]);
        expect(records.stepLogs('/p', 'app')).toBeUndefined();
        records.setStepLogs('/p', 'app', {
          steps: [{ step: 0, command: 'make', stdout: d('3'), stderr: d('4') }],
        });
        expect(records.stepLogs('/p', 'app')?.steps[0]?.command).toBe('make');
      } finally {
        records.close();
      }
      expect(version()).toBe(BUILD_DB_MIGRATIONS.length);
    });
  });

  describe('from version 2 (no provenance indexes yet)', () => {
    it('adds the provenance-index table and keeps the step logs', () => {
      const db = new Database(file);
      BUILD_DB_MIGRATIONS[0]!(db);
      BUILD_DB_MIGRATIONS[1]!(db);
      db.exec(
        `INSERT INTO step_logs (root, target, json) VALUES ('/p', 'app', '{"steps":[]}');` +
          'PRAGMA user_version = 2',
      );
      db.close();
      const records = new BuildRecords(file);
      try {
        expect(records.stepLogs('/p', 'app')).toEqual({ steps: [] });
        expect(records.listsProvenance(d('1'))).toBe(false);
        records.noteProvenance(d('1'));
        records.noteProvenance(d('1'));
        expect(records.listsProvenance(d('1'))).toBe(true);
        expect(records.listsProvenance(d('2'))).toBe(false);
      } finally {
        records.close();
      }
      expect(version()).toBe(BUILD_DB_MIGRATIONS.length);
    });
  });

  describe('from version 3 (no npm licenses yet)', () => {
    it('adds the npm-license table, telling a license, none declared and nothing noted apart', () => {
      const db = new Database(file);
      for (const step of BUILD_DB_MIGRATIONS.slice(0, 3)) step(db);
      db.exec(
        `INSERT INTO provenance_indexes (digest) VALUES ('${d('9')}');PRAGMA user_version = 3`,
      );
      db.close();
      const records = new BuildRecords(file);
      try {
        expect(records.listsProvenance(d('9'))).toBe(true);
        expect(records.npmLicense(d('1'))).toBeUndefined();
        records.noteNpmLicenses([
          [d('1'), 'MIT'],
          [d('2'), null],
        ]);
        expect(records.npmLicense(d('1'))).toBe('MIT');
        expect(records.npmLicense(d('2'))).toBeNull();
        expect(records.npmLicense(d('3'))).toBeUndefined();
      } finally {
        records.close();
      }
      expect(version()).toBe(BUILD_DB_MIGRATIONS.length);
    });
  });

  it('refuses a file of a newer Airlock with STORE_FORMAT and leaves it alone', () => {
    oldFile(`PRAGMA user_version = ${BUILD_DB_MIGRATIONS.length + 1}`);
    expect(() => new BuildRecords(file)).toThrow(expect.objectContaining({ code: 'STORE_FORMAT' }));
    expect(version()).toBe(BUILD_DB_MIGRATIONS.length + 1);
  });
});

describe('the build history', () => {
  let records: BuildRecords;
  beforeEach(() => {
    records = new BuildRecords(file);
  });
  afterEach(() => records.close());

  const append = (
    target: string,
    key: string,
    artifact: string,
    createdAt: number,
    sourceCommit?: string,
  ): void =>
    records.appendBuild({
      root: '/p',
      target,
      key: d(key),
      record: d(key === 'a' ? 'b' : key),
      result: d('e'),
      artifact: d(artifact),
      ...(sourceCommit ? { sourceCommit } : {}),
      createdAt,
    });

  it('appends a build only when its key, artifact or source commit differs from the latest', () => {
    append('app', '1', 'a', 10, 'c0ffee1111111111111111111111111111111111');
    append('app', '1', 'a', 11, 'c0ffee1111111111111111111111111111111111');
    append('app', '1', 'a', 12, 'deadbeef22222222222222222222222222222222');
    append('app', '2', 'b', 13, 'deadbeef22222222222222222222222222222222');
    expect(records.history('/p', 'app').map((b) => [b.key, b.createdAt])).toEqual([
      [d('2'), 13],
      [d('1'), 12],
      [d('1'), 10],
    ]);
  });

  it("writes nothing when a target's step logs are the same as last time", () => {
    const logs = { steps: [{ step: 0, command: 'make', stdout: d('1'), stderr: d('2') }] };
    // data_version, read on another connection, changes with every commit made on this one.
    const observer = new Database(file, { readonly: true });
    try {
      const version = (): number => observer.pragma('data_version', { simple: true }) as number;
      records.setStepLogs('/p', 'app', logs);
      const before = version();
      records.setStepLogs('/p', 'app', { ...logs, steps: [...logs.steps] });
      expect(version()).toBe(before);
      records.setStepLogs('/p', 'app', { ...logs, failed: 0 });
      expect(version()).not.toBe(before);
      expect(records.stepLogs('/p', 'app')).toEqual({ ...logs, failed: 0 });
    } finally {
      observer.close();
    }
  });

  it('finds an earlier build by artifact digest, action key or source commit prefix', () => {
    append('app', '1', 'a', 10, 'c0ffee1111111111111111111111111111111111');
    append('app', '2', 'b', 20, 'deadbeef22222222222222222222222222222222');
    append('app', '3', 'c', 30);
    expect(records.findBuild('/p', 'app', d('a'))?.key).toBe(d('1'));
    expect(records.findBuild('/p', 'app', d('2'))?.artifact).toBe(d('b'));
    expect(records.findBuild('/p', 'app', 'c0ffee1')?.key).toBe(d('1'));
    expect(records.findBuild('/p', 'app', 'deadbeef22222222222222222222222222222222')?.key).toBe(
      d('2'),
    );
    expect(records.findBuild('/p', 'app', 'c0ffe')).toBeUndefined(); // too short to be a commit
    expect(records.findBuild('/p', 'lib', d('a'))).toBeUndefined();
  });

  it('answers which builds produced a digest, newest first', () => {
    append('app', '1', 'a', 10);
    append('lib', '2', 'a', 20);
    append('app', '3', 'c', 30);
    expect(records.buildsOf(d('a')).map((b) => b.target)).toEqual(['lib', 'app']);
    expect(records.buildsOf(d('f'))).toEqual([]);
  });

  describe('gc retention', () => {
    it('forgets builds older than the cutoff except the latest of each target', () => {
      append('app', '1', 'a', 10);
      append('app', '2', 'b', 20);
      append('app', '3', 'c', 30);
      append('lib', '4', 'd', 5);
      expect(records.pruneBuilds(25, true).removed).toBe(2); // a dry run counts
      expect(records.history('/p', 'app')).toHaveLength(3);
      const { kept, removed } = records.pruneBuilds(25);
      expect(removed).toBe(2);
      expect(records.history('/p', 'app').map((b) => b.key)).toEqual([d('3')]);
      expect(records.history('/p', 'lib').map((b) => b.key)).toEqual([d('4')]);
      expect(kept.sort()).toEqual([d('3'), d('4')]);
    });
  });
});
