import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import { DigestHasher, type Digest } from '../core/digest.js';

const CHUNK = 4 * 1024 * 1024;
const SMALL = 256 * 1024;

/**
 * The sha256 digest and size of a file's bytes, read in large chunks into one
 * reused buffer (no per-chunk allocation), so hashing runs at the speed of
 * the hash function itself.
 */
export async function hashFile(path: string): Promise<{ digest: Digest; size: number }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const hasher = new DigestHasher();
    const buf = Buffer.allocUnsafe(size < SMALL ? Math.max(size, 1) : CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
    }
    return { digest: hasher.digest(), size: hasher.size };
  } finally {
    await fh.close();
  }
}

/** Files up to this size are hashed synchronously (see hashSmallFileSync). */
export const SMALL_FILE = 256 * 1024;
const small = Buffer.allocUnsafe(SMALL_FILE);

/**
 * The digest of a small file read with blocking calls into one shared
 * buffer. Why: for thousands of small files in the page cache, each async
 * call is a thread-pool round trip that costs more than the read itself;
 * plain syscalls on the main thread are several times faster. Returns
 * undefined when the file has grown past SMALL_FILE (the caller streams it).
 */
export function hashSmallFileSync(path: string): { digest: Digest; size: number } | undefined {
  const fd = openSync(path, 'r');
  try {
    if (fstatSync(fd).size > SMALL_FILE) return undefined;
    const hasher = new DigestHasher();
    for (;;) {
      const n = readSync(fd, small, 0, small.length, null);
      if (n === 0) break;
      hasher.update(small.subarray(0, n));
      if (hasher.size > SMALL_FILE) return undefined;
    }
    return { digest: hasher.digest(), size: hasher.size };
  } finally {
    closeSync(fd);
  }
}

/**
 * For a file the stat cache has never seen: opens it (never following a
 * symlink, never blocking on a FIFO), takes its signature from fstat on the
 * open descriptor and, when it is a small regular file, hashes it right
 * away: one open instead of an lstat and then an open. `digest` is absent
 * when the file is large (the caller streams it) or not a regular file.
 */
export function openAndHashSync(
  path: string,
): { st: BigIntStats; digest?: Digest; size?: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // a symlink now, vanished or unreadable: the caller looks again
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile() || st.size > BigInt(SMALL_FILE)) return { st };
    // Ask for one byte more than fstat promised: a short read is the end of
    // the file, which saves the usual extra read that returns 0.
    const want = Math.min(small.length, Number(st.size) + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, small, got, want - got, null);
      got += n;
      if (n === 0 || got < want) break;
      if (got === small.length) return { st }; // grew past SMALL_FILE since fstat: stream it
    }
    const hasher = new DigestHasher().update(small.subarray(0, got));
    return { st, digest: hasher.digest(), size: hasher.size };
  } finally {
    closeSync(fd);
  }
}
