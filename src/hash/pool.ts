import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Digest } from '../core/digest.js';

/**
 * The worker's code, kept as plain JavaScript so it runs the same from the
 * compiled package and from the TypeScript sources under test. It hashes the
 * files it is given with blocking reads into one reused buffer.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
const out = [];
for (const path of workerData.paths) {
  try {
    const fd = openSync(path, 'r');
    try {
      const h = createHash('sha256');
      let size = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        size += n;
      }
      out.push(['sha256:' + h.digest('hex'), size]);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    out.push([null, String(err && err.code || err)]);
  }
}
parentPort.postMessage(out);
`;

/** Below this many files a thread costs more to start than it saves. */
export const POOL_THRESHOLD = 2000;

/**
 * Hashes many files on every core: the list is split into one contiguous
 * share per thread. Each result is a digest and size, or an error code for
 * a file that could not be read (the caller hashes it again itself).
 */
export async function hashFilesInThreads(
  paths: readonly string[],
  threads = availableParallelism(),
): Promise<({ digest: Digest; size: number } | { error: string })[]> {
  const n = Math.max(1, Math.min(threads, Math.ceil(paths.length / 500)));
  const share = Math.ceil(paths.length / n);
  const parts = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const slice = paths.slice(i * share, (i + 1) * share);
      return new Promise<[string | null, number | string][]>((resolve, reject) => {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { paths: slice } });
        w.once('message', (m: [string | null, number | string][]) => resolve(m));
        w.once('error', reject);
        w.once('exit', (code) => {
          if (code !== 0) reject(new Error(`hash worker exited with ${code}`));
        });
      });
    }),
  );
  return parts
    .flat()
    .map(([digest, x]) =>
      digest === null ? { error: String(x) } : { digest: digest as Digest, size: x as number },
    );
}
