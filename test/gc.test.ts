import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDemo, tempDir, runCli } from './helpers/cli.js';

interface GcJson {
  ok: boolean;
  dryRun: boolean;
  blobsFreed: number;
  actionsExpired: number;
  treesRemoved: number;
  statEntriesPruned: number;
}

describe('airlock store gc', () => {
  const tmp = tempDir('gc');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'p', 'demo');
  const trees = join(store, 'airlock', 'v1', 'trees');
  const targets = ['lib', 'server'];

  beforeAll(async () => {
    mkdirSync(join(tmp.path, 'p'));
    copyDemo(project);
    writeFileSync(join(project, 'lib', 'extra.txt'), 'deleted before gc\n');
    const r = await runCli(['--store', store, 'build', '-C', project, ...targets]);
    expect(r.status, r.stderr).toBe(0);
  });
  afterAll(() => tmp.cleanup());

  it('keeps everything young and reachable', async () => {
    const r = await runCli(['--json', '--store', store, 'store', 'gc', '--retention-days', '14']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as GcJson;
    expect(report).toMatchObject({ ok: true, actionsExpired: 0, treesRemoved: 0 });
    expect(readdirSync(trees)).toHaveLength(2);
  });

  it('reports without deleting in a dry run', async () => {
    const r = await runCli([
      '--json',
      '--store',
      store,
      'store',
      'gc',
      '--retention-days',
      '0',
      '--dry-run',
    ]);
    const report = JSON.parse(r.stdout) as GcJson;
    expect(report.dryRun).toBe(true);
    expect(report.treesRemoved).toBe(2);
    expect(readdirSync(trees)).toHaveLength(2);
  });

  it('with no retention drops the cache entries and their extracted trees, keeping tagged artifacts; the next build rebuilds', async () => {
    rmSync(join(project, 'lib', 'extra.txt'));
    const r = await runCli(['--json', '--store', store, 'store', 'gc', '--retention-days', '0']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as GcJson;
    expect(report.actionsExpired).toBe(2);
    expect(report.treesRemoved).toBe(2);
    expect(report.statEntriesPruned).toBeGreaterThanOrEqual(1);
    expect(readdirSync(trees)).toEqual([]);
    const fsck = await runCli(['--json', '--store', store, 'store', 'fsck']);
    expect(fsck.status, fsck.stdout).toBe(0);
    const inspect = await runCli(['--json', '--store', store, 'build', '-C', project, ...targets]);
    expect(inspect.status, inspect.stderr).toBe(0);
    const built = JSON.parse(inspect.stdout) as { targets: { name: string; cached: boolean }[] };
    expect(built.targets.map((t) => [t.name, t.cached])).toEqual([
      ['lib', false],
      ['server', false],
    ]);
    expect(existsSync(join(project, 'dist/server/server.js'))).toBe(true);
  });
});
