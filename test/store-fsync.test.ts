import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from './helpers/store.js';

const repoRoot = resolve(import.meta.dirname, '..');
const BLOBS = 5;

/**
 * Runs the child script `test/helpers/<script>` under `strace -f -y` tracing
 * `trace` (each line starts with the thread id), and returns the trace's lines.
 */
function traceChild(dir: string, trace: string, script: string, args: string[]): string[] {
  const out = join(dir, 'trace');
  const run = spawnSync(
    'strace',
    [
      '-f',
      '-y',
      '-e',
      trace,
      '-o',
      out,
      process.execPath,
      join(repoRoot, 'test', 'helpers', script),
      ...args,
    ],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  return readFileSync(out, 'utf8').split('\n');
}

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
    lines = traceChild(dir, 'trace=fsync,fdatasync,write,pwrite64', 'store-batch-writer.mjs', [
      join(dir, 'store'),
      String(BLOBS),
    ]);
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

/**
 * Two action entries recorded at once for a blob just put: the fsync of
 * blobs/ runs in the thread pool, and the second entry, finding it under way,
 * must wait for it too (strace -f: each line starts with the thread id).
 */
describe('durability while the fsync of blobs/ runs in the thread pool', () => {
  let dir: string;
  let lines: string[];

  beforeAll(async () => {
    dir = await makeTempDir('airlock-store-fsync-concurrent-');
    lines = traceChild(dir, 'trace=fsync,fdatasync,write,pwrite64', 'store-concurrent-writer.mjs', [
      join(dir, 'store'),
    ]);
  }, 60_000);

  afterAll(async () => {
    if (dir) await removeDir(dir);
  });

  const at = (re: RegExp, from = 0): number => lines.findIndex((l, i) => i >= from && re.test(l));

  it('fsyncs blobs/ once, off the main thread, and writes neither entry before that fsync has returned', () => {
    const marker = at(/write\(1<[^>]*>, "reference\\n"/);
    expect(marker).toBeGreaterThan(0);
    const mainThread = lines[marker]!.split(' ')[0];
    const syncs = lines
      .map((l, i) => (i > marker && /f(data)?sync\(\d+<[^>]*\/blobs\/sha256>/.test(l) ? i : -1))
      .filter((i) => i >= 0);
    expect(syncs).toHaveLength(1);
    const syncLine = lines[syncs[0]!]!;
    const syncThread = syncLine.split(' ')[0];
    expect(syncThread).not.toBe(mainThread);
    // The call's end: the same line when strace did not split it, else its "resumed" line.
    const ended = /unfinished/.test(syncLine)
      ? at(new RegExp(`^${syncThread} .*<\\.\\.\\. f(data)?sync resumed>`), syncs[0])
      : syncs[0]!;
    expect(ended).toBeGreaterThan(0);
    const metaWrites = lines
      .map((l, i) => (i > marker && /(p)?write(64)?\(\d+<[^>]*meta\.sqlite[^>]*>/.test(l) ? i : -1))
      .filter((i) => i >= 0);
    // Both entries: at least one write each to the write-ahead log, all after the fsync ended.
    expect(metaWrites.length).toBeGreaterThanOrEqual(2);
    expect(Math.min(...metaWrites)).toBeGreaterThan(ended);
  });
});

/**
 * Tags set at once (as a build's targets finish together): index.json is
 * written in the thread pool, once for the tags that came while a copy was
 * being written, never with a blocking fsync on the main thread.
 */
describe('index.json while several tags are set at once', () => {
  const TAGS = 8;
  let dir: string;
  let lines: string[];

  beforeAll(async () => {
    dir = await makeTempDir('airlock-store-fsync-tags-');
    lines = traceChild(
      dir,
      'trace=fsync,fdatasync,write,rename,renameat,renameat2',
      'store-tag-writer.mjs',
      [join(dir, 'store'), String(TAGS)],
    );
  }, 60_000);

  afterAll(async () => {
    if (dir) await removeDir(dir);
  });

  const afterMarker = (): { thread: string; rest: string[] } => {
    const marker = lines.findIndex((l) => /write\(1<[^>]*>, "tags\\n"/.test(l));
    expect(marker).toBeGreaterThan(0);
    return { thread: lines[marker]!.split(' ')[0]!, rest: lines.slice(marker + 1) };
  };

  it('replaces index.json fewer times than there are tags', () => {
    const { rest } = afterMarker();
    const renames = rest.filter((l) => /rename(at2?)?\(.*index\.json"/.test(l));
    expect(renames.length).toBeGreaterThanOrEqual(1);
    expect(renames.length).toBeLessThan(TAGS);
  });

  it('fsyncs the new index.json and its directory in the thread pool, not on the main thread', () => {
    const { thread, rest } = afterMarker();
    const syncs = rest.filter((l) => /f(data)?sync\(\d+</.test(l) && !/\.sqlite/.test(l));
    expect(syncs.some((l) => /index-[0-9a-f]+\.tmp>/.test(l))).toBe(true);
    expect(syncs.filter((l) => l.split(' ')[0] === thread)).toEqual([]);
  });
});
