import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from './helpers/store.js';

const repoRoot = resolve(import.meta.dirname, '..');
const BLOBS = 5;

/**
 * The fsync/fdatasync calls and writes of a process writing BLOBS blobs then
 * one action entry, as strace shows them (-y: each descriptor with its path).
 */
describe('durability of a batch of blob writes (fsync in batches, as git core.fsyncMethod=batch)', () => {
  let dir: string;
  let lines: string[];

  beforeAll(async () => {
    try {
      execFileSync('strace', ['-V'], { stdio: 'ignore' });
    } catch {
      throw new Error('strace is not installed: run scripts/setup.sh (Debian package strace)');
    }
    dir = await makeTempDir('airlock-store-fsync-');
    const trace = join(dir, 'trace');
    const run = spawnSync(
      'strace',
      [
        '-f',
        '-y',
        '-e',
        'trace=fsync,fdatasync,write,pwrite64',
        '-o',
        trace,
        process.execPath,
        '--import',
        'tsx',
        join(repoRoot, 'test', 'helpers', 'store-batch-writer.ts'),
        join(dir, 'store'),
        String(BLOBS),
      ],
      { cwd: repoRoot, encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    lines = readFileSync(trace, 'utf8').split('\n');
  }, 60_000);

  afterAll(async () => {
    if (dir) await removeDir(dir);
  });

  const blobsDirSyncs = (from = 0): number[] =>
    lines
      .map((l, i) => (i >= from && /f(data)?sync\(\d+<[^>]*\/blobs\/sha256>\)/.test(l) ? i : -1))
      .filter((i) => i >= 0);

  it('fsyncs each blob file before it gets its name', () => {
    const fileSyncs = lines.filter((l) =>
      /f(data)?sync\(\d+<[^>]*\/tmp\/blob-[^>]*\.part>\)/.test(l),
    );
    expect(fileSyncs).toHaveLength(BLOBS);
  });

  it('fsyncs blobs/ once for the whole batch, not once per blob', () => {
    expect(blobsDirSyncs()).toHaveLength(1);
  });

  it('fsyncs blobs/ before the action entry that names the blobs is written', () => {
    const marker = lines.findIndex((l) => /write\(1<[^>]*>, "reference\\n"/.test(l));
    expect(marker).toBeGreaterThan(0);
    const [sync] = blobsDirSyncs(marker);
    expect(sync).toBeDefined();
    const metaWrite = lines.findIndex(
      (l, i) => i > marker && /(p)?write(64)?\(\d+<[^>]*meta\.sqlite[^>]*>/.test(l),
    );
    expect(metaWrite).toBeGreaterThan(sync!);
  });
});
