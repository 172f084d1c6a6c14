import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { noEvents } from '../src/core/events.js';
import { runBuild } from '../src/pipeline/build.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { runLock } from '../src/pipeline/lock.js';
import { runGc } from '../src/pipeline/store.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let work: string;
let server: http.Server;
let url: string;
const bodies = new Map<string, Buffer>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-files-'));
  server = http.createServer((req, res) => {
    const body = bodies.get(req.url ?? '');
    if (body) res.writeHead(200, { 'content-length': body.length }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A real .tar.gz made by GNU tar, and an executable script.
  const src = join(work, 'archive-src');
  await mkdir(join(src, 'share'), { recursive: true });
  await writeFile(join(src, 'share', 'greeting.txt'), 'hello from the archive\n');
  bodies.set('/data.tar.gz', execFileSync('tar', ['-C', src, '-czf', '-', 'share']));
  bodies.set('/tool.sh', Buffer.from('#!/bin/sh\necho "tool ran with $1"\n'));
  bodies.set('/not-an-archive', Buffer.from('plain bytes\n'));
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(work, { recursive: true, force: true });
});

const yaml = (files: string, targetFiles: string, step: string): string =>
  `version: 1
name: files
sourceDateEpoch: 1700000000
files:
${files}targets:
  app:
    sources: ["airlock.yaml"]
${targetFiles}    steps: [${JSON.stringify(step)}]
    outputs: ["out/**"]
`;

const FILES = (): string =>
  `  tool: { url: "${url}/tool.sh", executable: true }\n  data: { url: "${url}/data.tar.gz", extract: true }\n`;

describe('files: entries in the sandbox', () => {
  it('places each fetched file read-only at its declared path (executable bit and extraction honoured), keyed by its hash', async () => {
    const dir = join(work, 'app');
    const store = join(work, 'store');
    await mkdir(dir, { recursive: true });
    const step =
      'mkdir -p out && tools/tool x > out/r.txt && cat vendor/data/share/greeting.txt >> out/r.txt && (echo y > tools/tool 2>/dev/null && echo writable || echo read-only) >> out/r.txt && (touch vendor/data/new 2>/dev/null && echo writable || echo read-only) >> out/r.txt';
    await writeFile(
      join(dir, 'airlock.yaml'),
      yaml(FILES(), '    files: { tool: tools/tool, data: vendor/data }\n', step),
    );
    await runLock({ project: await loadConfig(dir) });
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({ code: 'INPUT_NOT_FETCHED' });
    await runFetch({ project: await loadConfig(dir), store });

    const first = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(first.targets[0]?.cached).toBe(false);
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).toBe(
      'tool ran with x\nhello from the archive\nread-only\nread-only\n',
    );
    // Nothing was written into the project at the declared paths.
    expect(existsSync(join(dir, 'tools'))).toBe(false);
    expect(existsSync(join(dir, 'vendor'))).toBe(false);

    const again = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(again.targets[0]?.cached).toBe(true);

    // New bytes at the URL, locked again: a new action key, the new content seen.
    bodies.set('/tool.sh', Buffer.from('#!/bin/sh\necho "tool v2 ran with $1"\n'));
    await rm(join(dir, 'airlock.lock'));
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    const third = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(third.targets[0]?.cached).toBe(false);
    expect((await readFile(join(dir, 'out', 'r.txt'), 'utf8')).split('\n')[0]).toBe(
      'tool v2 ran with x',
    );
    bodies.set('/tool.sh', Buffer.from('#!/bin/sh\necho "tool ran with $1"\n'));

    // gc keeps what the latest build uses (tool v2, data) and removes the old tool's placement.
    const placed = join(store, 'airlock', 'v1', 'files');
    expect(await readdir(placed)).toHaveLength(3);
    expect((await runGc({ store, retentionMs: 14 * 86_400_000, dryRun: false })).filesRemoved).toBe(
      0,
    );
    expect((await runGc({ store, retentionMs: 0, dryRun: false })).filesRemoved).toBe(1);
    expect(await readdir(placed)).toHaveLength(2);
    // The fetched blobs the remembered build used were kept: the next build needs no fetch.
    const after = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(after.targets[0]?.cached).toBe(false);
    expect(await readdir(placed)).toHaveLength(2);
  }, 120_000);

  it('keeps a file not named by the target out of its sandbox', async () => {
    const dir = join(work, 'unnamed');
    const store = join(work, 'store-unnamed');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'airlock.yaml'),
      yaml(
        FILES(),
        '    files: { tool: bin/tool }\n',
        'mkdir -p out && ls -a > out/r.txt && ls -a bin >> out/r.txt',
      ),
    );
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).not.toContain('vendor');
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).toContain('tool');
  }, 120_000);

  it('refuses extract: true on a file that is not a tar archive, naming the file and the key', async () => {
    const dir = join(work, 'bad-archive');
    const store = join(work, 'store-bad');
    await mkdir(dir, { recursive: true });
    const body = bodies.get('/not-an-archive')!;
    await writeFile(
      join(dir, 'airlock.yaml'),
      yaml(
        `  blob: { url: "${url}/not-an-archive", sha256: "${sha256(body)}", extract: true }\n`,
        '    files: { blob: vendor/blob }\n',
        'mkdir -p out && true',
      ),
    );
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({
      code: 'FILE_UNUSABLE',
      message: expect.stringContaining('file "blob"'),
      hint: expect.stringContaining('files.blob'),
    });
  }, 120_000);
});
