import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical.js';
import { sha256, type Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import {
  AuditLog,
  checkpointOf,
  parsePackageQuery,
  sealEntry,
  type AuditEntry,
  type AuditEvent,
  type Checkpoint,
} from './index.js';

const actor = { user: 'ana', host: 'ci-7' };
const d = (n: number): Digest => sha256(`blob ${n}`);

/** A valid event of a few types, varied by `i`. */
function sampleEvent(i: number): AuditEvent {
  switch (i % 4) {
    case 0:
      return {
        type: 'build',
        data: {
          project: 'demo',
          target: `t${i % 7}`,
          sourceCommit: 'a'.repeat(40),
          dirty: i % 3 === 0,
          actionKey: d(i),
          cache: i % 2 === 0 ? 'hit' : 'miss',
          toolchain: [{ name: 'node', digest: d(1000) }],
          sourceDateEpoch: 1700000000,
          artifact: d(i + 1),
          tag: `demo/t${i % 7}`,
          outputTree: d(i + 2),
          startedAt: 1000 * i,
          finishedAt: 1000 * i + 5,
        },
      };
    case 1:
      return {
        type: 'signature',
        data: { artifact: d(i), keyId: d(2000), predicateType: 'p', attachment: d(i + 3) },
      };
    case 2:
      return {
        type: 'push',
        data: {
          registry: '127.0.0.1:5000',
          repository: 'demo/web',
          digest: d(i),
          reference: `127.0.0.1:5000/demo/web@${d(i)}`,
          attachments: 2,
        },
      };
    default:
      return {
        type: 'verify',
        data: {
          artifact: d(i),
          policyDigest: d(3000),
          pass: i % 2 === 0,
          rules: [{ rule: 'signature', pass: true, reason: 'ok' }],
        },
      };
  }
}

let dir: string;
let log: AuditLog;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-'));
  log = AuditLog.open(join(dir, 'audit.sqlite'));
});
afterEach(() => {
  log.close();
  rmSync(dir, { recursive: true, force: true });
});

function fill(n: number): Checkpoint {
  for (let i = 0; i < n; i++) log.append(sampleEvent(i), { time: 1000 * i, actor });
  return checkpointOf(log.head(), log.first()!, 0);
}

describe('audit log', () => {
  it('chains each entry to the hash of the one before', () => {
    fill(3);
    const [a, b, c] = log.list();
    expect(a!.entry.prev).toBeNull();
    expect(b!.entry.prev).toBe(a!.hash);
    expect(c!.entry.prev).toBe(b!.hash);
    expect(c!.hash).toBe(sha256(canonicalJson(c!.entry)));
    expect(log.head()).toEqual({ seq: 3, hash: c!.hash });
  });

  it('rejects an event whose data does not match its type, leaving the log as it was', () => {
    fill(2);
    let err: unknown;
    try {
      log.append({ type: 'push', data: { registry: 'r' } } as unknown as AuditEvent, {
        time: 1,
        actor,
      });
    } catch (e) {
      err = e;
    }
    expect(isAirlockError(err, 'AUDIT_EVENT_INVALID')).toBe(true);
    expect(log.count()).toBe(2);
  });

  it('filters by type, time and subject', () => {
    fill(12);
    expect(log.list({ types: ['push'] }).map((r) => r.seq)).toEqual([3, 7, 11]);
    expect(log.list({ since: 10_000 }).map((r) => r.seq)).toEqual([11, 12]);
    expect(log.list({ subject: d(6) }).map((r) => r.entry.type)).toEqual(['build', 'push']);
    expect(log.list({ limit: 2 }).map((r) => r.seq)).toEqual([11, 12]);
  });

  it('indexes components and finds artifacts by exact purl or by package prefix', () => {
    log.indexComponents(d(1), ['pkg:npm/ms@2.1.3', 'pkg:npm/ms-extra@1.0.0']);
    log.indexComponents(d(2), ['pkg:npm/ms@2.1.2']);
    expect(log.artifactsUsing('pkg:npm/ms@2.1.3')).toEqual([d(1)]);
    expect(log.artifactsUsingPrefix(parsePackageQuery('ms')!.purl).map((r) => r.artifact)).toEqual([
      d(2),
      d(1),
    ]);
  });
});

describe('audit verify', () => {
  it('accepts an untouched log with a checkpoint of its head', () => {
    const cp = fill(40);
    const v = log.verify([cp]);
    expect(v).toMatchObject({ ok: true, entries: 40, problems: [] });
    expect(v.checkpoints).toEqual([{ seq: 40, head: cp.head, consistent: true }]);
  });

  /*
   * A script of random mutations of the stored log, each applied inside a
   * transaction that is rolled back: every one must be detected, and the
   * untouched log must verify after each.
   */
  it('detects 1,000 random mutations of the log and raises no false alarm', () => {
    const n = 30;
    const cp = fill(n);
    const db = log.database;
    let seed = 42;
    const rand = (k: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % k;
    };
    type Row = { seq: number; type: string; time: number; json: string; hash: string };
    const row = (seq: number): Row =>
      db.prepare('SELECT * FROM events WHERE seq = ?').get(seq) as Row;
    const setRow = (seq: number, r: Omit<Row, 'seq'>): void => {
      db.prepare('UPDATE events SET type = ?, time = ?, json = ?, hash = ? WHERE seq = ?').run(
        r.type,
        r.time,
        r.json,
        r.hash,
        seq,
      );
    };
    const reseal = (seq: number, entry: AuditEntry): Row => {
      const json = canonicalJson(entry);
      return { seq, type: entry.type, time: entry.time, json, hash: sha256(json) };
    };
    /** Rewrites entries from `from` to the end so that every link holds again. */
    const rechain = (from: number): void => {
      let prev = from > 1 ? row(from - 1).hash : null;
      const last = (db.prepare('SELECT MAX(seq) AS m FROM events').get() as { m: number }).m;
      for (let s = from; s <= last; s++) {
        const e = JSON.parse(row(s).json) as AuditEntry;
        const r = reseal(s, { ...e, seq: s, prev: prev as AuditEntry['prev'] });
        setRow(s, r);
        prev = r.hash;
      }
    };
    const mutations: Record<string, () => void> = {
      'edit a field': () => {
        const s = 1 + rand(n);
        const e = JSON.parse(row(s).json) as AuditEntry;
        (e.data as Record<string, unknown>)['injected'] = rand(1000);
        setRow(s, { ...row(s), json: canonicalJson(e) });
      },
      'edit a byte': () => {
        const s = 1 + rand(n);
        const r = row(s);
        const i = rand(r.json.length);
        const c = r.json[i] === 'a' ? 'b' : 'a';
        setRow(s, { ...r, json: r.json.slice(0, i) + c + r.json.slice(i + 1) });
      },
      'edit the actor and re-hash that entry': () => {
        const s = 1 + rand(n);
        const e = JSON.parse(row(s).json) as AuditEntry;
        setRow(s, reseal(s, { ...e, actor: { user: 'mallory', host: 'x' } }));
      },
      'edit the indexed type or time': () => {
        const s = 1 + rand(n);
        const r = row(s);
        setRow(s, rand(2) === 0 ? { ...r, type: 'deploy.drift' } : { ...r, time: r.time + 1 });
      },
      delete: () => {
        db.prepare('DELETE FROM events WHERE seq = ?').run(1 + rand(n));
      },
      'delete and renumber': () => {
        const s = 1 + rand(n - 1);
        db.prepare('DELETE FROM events WHERE seq = ?').run(s);
        db.prepare('UPDATE events SET seq = -seq - 1 WHERE seq > ?').run(s);
        db.prepare('UPDATE events SET seq = -seq WHERE seq < 0').run();
      },
      swap: () => {
        const a = 1 + rand(n);
        let b = 1 + rand(n);
        if (b === a) b = a === n ? 1 : a + 1;
        const ra = row(a);
        const rb = row(b);
        setRow(a, rb);
        setRow(b, ra);
      },
      'insert in the middle': () => {
        const s = 1 + rand(n - 1);
        db.prepare('UPDATE events SET seq = -seq - 1 WHERE seq >= ?').run(s);
        db.prepare('UPDATE events SET seq = -seq WHERE seq < 0').run();
        const prev = s > 1 ? row(s - 1) : undefined;
        const sealed = sealEntry(
          { seq: s - 1, hash: (prev?.hash ?? null) as AuditEntry['prev'] },
          sampleEvent(rand(100)),
          prev?.time ?? 0,
          actor,
        );
        db.prepare('INSERT INTO events (seq, type, time, json, hash) VALUES (?, ?, ?, ?, ?)').run(
          s,
          sealed.entry.type,
          sealed.entry.time,
          sealed.json,
          sealed.hash,
        );
      },
      truncate: () => {
        db.prepare('DELETE FROM events WHERE seq > ?').run(rand(n));
      },
      'rewrite history and re-chain': () => {
        const s = 1 + rand(n);
        const e = JSON.parse(row(s).json) as AuditEntry;
        setRow(s, reseal(s, { ...e, time: e.time + 1 + rand(50) }));
        rechain(s);
      },
    };
    const kinds = Object.keys(mutations);
    const missed: string[] = [];
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const kind = kinds[i % kinds.length]!;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      db.exec('BEGIN');
      try {
        mutations[kind]!();
        if (log.verify([cp]).ok) missed.push(`${i}: ${kind}`);
      } finally {
        db.exec('ROLLBACK');
      }
      // No false alarm: the log as it was verifies after every rollback.
      if (i % 50 === 0) expect(log.verify([cp]).ok).toBe(true);
    }
    expect(missed).toEqual([]);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(1000);
    expect(log.verify([cp]).ok).toBe(true);
  });

  it('without a checkpoint, a cut tail still verifies: truncation needs a kept checkpoint', () => {
    const cp = fill(10);
    log.database.prepare('DELETE FROM events WHERE seq > 7').run();
    expect(log.verify().ok).toBe(true);
    const v = log.verify([cp]);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.kind)).toEqual(['checkpoint-missing']);
  });

  it('refuses a checkpoint of another log with the same length', () => {
    fill(5);
    const other = { ...checkpointOf(log.head(), log.first()!, 0), first: d(9) };
    expect(log.verify([other]).ok).toBe(false);
  });
});
