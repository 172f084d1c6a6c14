// Several processes appending to one audit log at the same time never fork the chain.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/index.js';
import { REPO } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'audit-concurrency-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writer(
  file: string,
  count: number,
  id: number,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(REPO, 'test', 'helpers', 'audit-append.mjs'), file, String(count), String(id)],
      { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('audit log under concurrent appends', () => {
  it('4 processes appending 500 events each give one valid chain of 2,000', async () => {
    const file = join(dir, 'audit.sqlite');
    AuditLog.open(file).close(); // created once, so the writers race on appends, not on the schema
    const results = await Promise.all([1, 2, 3, 4].map((id) => writer(file, 500, id)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const log = AuditLog.open(file);
    try {
      const v = log.verify();
      expect(v.problems).toEqual([]);
      expect(v).toMatchObject({ ok: true, entries: 2000, head: { seq: 2000 } });
      const entries = log.list();
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
      // Every writer's events are all there, each in the order it wrote them.
      for (const id of [1, 2, 3, 4]) {
        const mine = entries.filter((e) => e.entry.actor.user === `writer-${id}`);
        expect(mine.map((e) => (e.entry.data as { attachments: number }).attachments)).toEqual(
          Array.from({ length: 500 }, (_, i) => i),
        );
      }
      // The writers really interleaved: the log is not four runs one after another.
      const switches = entries.filter(
        (e, i) => i > 0 && e.entry.actor.user !== entries[i - 1]!.entry.actor.user,
      ).length;
      expect(switches).toBeGreaterThan(3);
    } finally {
      log.close();
    }
  }, 120_000);
});
