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

/**
 * Worth threads only when hashing, not opening files, is the cost: measured
 * here, many small files gain nothing from a second thread (the time goes to
 * syscalls), while large files hash about twice as fast on two cores.
 */
export const POOL_MIN_BYTES = 64 * 1024 * 1024;

/**
 * Hashes large files on every core: files are dealt largest first to the
 * least-loaded thread. Each result is a digest and size, or an error code for
 * a file that could not be read (the caller hashes it again itself).
 */
export async function hashFilesInThreads(
  files: readonly { path: string; size: number }[],
  threads = availableParallelism(),
): Promise<({ digest: Digest; size: number } | { error: string })[]> {
  const n = Math.max(1, Math.min(threads, files.length));
  const shares = Array.from({ length: n }, () => ({ bytes: 0, items: [] as number[] }));
  const order = files.map((_, i) => i).sort((a, b) => files[b]!.size - files[a]!.size);
  for (const i of order) {
    const least = shares.reduce((m, s) => (s.bytes < m.bytes ? s : m));
    least.items.push(i);
    least.bytes += files[i]!.size;
  }
  const out = new Array<{ digest: Digest; size: number } | { error: string }>(files.length);
  await Promise.all(
    shares.map(
      (share) =>
        new Promise<void>((resolve, reject) => {
          const paths = share.items.map((i) => files[i]!.path);
          const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { paths } });
          w.once('message', (m: [string | null, number | string][]) => {
            m.forEach(([digest, x], k) => {
              out[share.items[k]!] =
                digest === null
                  ? { error: String(x) }
                  : { digest: digest as Digest, size: x as number };
            });
            resolve();
          });
          w.once('error', reject);
          w.once('exit', (code) => {
            if (code !== 0) reject(new Error(`hash worker exited with ${code}`));
          });
        }),
    ),
  );
  return out;
}
