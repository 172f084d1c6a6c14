import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../src/core/index.js';
import { Store } from '../src/store/index.js';
import { makeTempDir, removeDir } from './helpers/store.js';

const repoRoot = resolve(import.meta.dirname, '..');
const writerScript = join(repoRoot, 'test', 'helpers', 'store-writer.mjs');
const WRITERS = 3;
const ROUNDS = 3;

interface Acks {
  blobs: Set<Digest>;
  tags: Map<string, Digest>;
  actions: Map<Digest, Digest>;
}

/** Starts a writer child and records every line it acknowledges. */
function startWriter(
  root: string,
  id: string,
  scratch: string,
  acks: Acks,
): { child: ChildProcess; count: () => number } {
  const child = spawn(process.execPath, [writerScript, root, id, scratch], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let count = 0;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code, signal) => {
    if (signal !== 'SIGKILL') console.error(`writer ${id} exited with ${code}: ${stderr}`);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, a, b] = line.split(' ');
    if (kind === 'ack') {
      acks.blobs.add(a as Digest);
      count++;
    } else if (kind === 'tag') acks.tags.set(a!, b as Digest);
    else if (kind === 'action') acks.actions.set(a as Digest, b as Digest);
  });
  return { child, count: () => count };
}

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('store under kill -9 of concurrent writer processes', () => {
  let dir: string;
  const acks: Acks = { blobs: new Set(), tags: new Map(), actions: new Map() };

  beforeAll(async () => {
    dir = await makeTempDir('airlock-store-crash-');
    const root = join(dir, 'store');
    for (let round = 0; round < ROUNDS; round++) {
      const writers = Array.from({ length: WRITERS }, (_, i) =>
        startWriter(root, `${round}x${i}`, join(dir, `scratch-${round}-${i}`), acks),
      );
      // Let each writer get going, then kill all of them mid-write at a varying moment.
      await until(
        () => writers.every((w) => w.count() >= 4 + round * 2),
        'writers to acknowledge writes',
      );
      await new Promise((r) => setTimeout(r, 30 + round * 40));
      const exits = writers.map((w) => new Promise((r) => w.child.once('exit', r)));
      for (const w of writers) w.child.kill('SIGKILL');
      await Promise.all(exits);
    }
  }, 120_000);

  afterAll(async () => {
    await removeDir(dir);
  });

  it('keeps every acknowledged blob readable and verified', async () => {
    const store = await Store.open(join(dir, 'store'));
    try {
      expect(acks.blobs.size).toBeGreaterThanOrEqual(WRITERS * ROUNDS * 4);
      for (const digest of acks.blobs) {
        expect(sha256(await store.getBytes(digest))).toBe(digest);
      }
    } finally {
      store.close();
    }
  });

  it('keeps every acknowledged tag and action entry, and index.json names the tags', async () => {
    const store = await Store.open(join(dir, 'store'));
    try {
      expect(acks.tags.size).toBeGreaterThan(0);
      for (const [name, digest] of acks.tags) {
        expect((await store.resolveTag(name))?.digest).toBe(digest);
      }
      for (const [key, result] of acks.actions) {
        expect((await store.getAction(key))?.result).toBe(result);
      }
      const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8')) as {
        schemaVersion: number;
        manifests: { annotations: Record<string, string> }[];
      };
      expect(index.schemaVersion).toBe(2);
      const named = index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']);
      for (const name of acks.tags.keys()) expect(named).toContain(name);
    } finally {
      store.close();
    }
  });

  it('leaves fsck clean: no corrupt blob, no dangling reference, only cleanable temp files', async () => {
    const store = await Store.open(join(dir, 'store'));
    try {
      const report = await store.fsck();
      expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.corrupt).toBe(0);
      console.log(
        `fsck after crashes: ${report.blobsChecked} blobs, ${report.leftoverTmp} leftover temp files`,
      );
      expect(report.blobsChecked).toBeGreaterThanOrEqual(acks.blobs.size);
      expect(
        report.problems.every((p) => p.kind === 'leftover-tmp' || p.kind === 'index-out-of-sync'),
      ).toBe(true);
    } finally {
      store.close();
    }
  });
});
