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
