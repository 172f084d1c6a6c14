import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './helpers/cli.js';

/**
 * Records one audit event of `type` in a fresh store (the compiled code, in a
 * process of its own) and reports whether zod was loaded by then, plus the
 * event types the log holds.
 */
function recordIn(store: string, type: 'push' | 'verify'): { zod: boolean; types: string[] } {
  const script = `
    import { createRequire } from 'node:module';
    import { Store } from ${JSON.stringify(join(REPO, 'dist/store/index.js'))};
    import { recordAudit, openAuditLog } from ${JSON.stringify(join(REPO, 'dist/pipeline/audit.js'))};
    const D = 'sha256:' + 'a'.repeat(64);
    const data = ${JSON.stringify(type)} === 'push'
      ? { registry: 'r.example', repository: 'shop/app', tag: '1', digest: D, reference: 'r.example/shop/app@' + D, attachments: 0 }
      : undefined;
    const store = await Store.open(process.argv[1]);
    if (data) recordAudit(store, { type: 'push', data });
    else {
      const { auditEventSchemas } = await import(${JSON.stringify(join(REPO, 'dist/audit/index.js'))});
      auditEventSchemas();
    }
    const log = openAuditLog(store);
    const types = log.list({}).map((r) => r.entry.type);
    log.close();
    store.close();
    const require = createRequire(import.meta.url);
    const zod = Object.keys(require.cache).some((k) => k.includes('/node_modules/zod/'));
    console.log(JSON.stringify({ zod, types }));
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, store], {
    encoding: 'utf8',
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { zod: boolean; types: string[] };
}

describe('recording a push in the audit log', () => {
  const tmp = tempDir('push-audit-cost');
  afterAll(() => tmp.cleanup());

  it('checks the event without loading zod, and the event is in the log', () => {
    expect(recordIn(join(tmp.path, 'a'), 'push')).toEqual({ zod: false, types: ['push'] });
  });

  it('(the check above would see zod: building the schemas loads it)', () => {
    expect(recordIn(join(tmp.path, 'b'), 'verify')).toEqual({ zod: true, types: [] });
  });
});
