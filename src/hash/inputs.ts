import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { EventSink } from '../core/events.js';
import type { TreeEntry } from '../core/tree.js';
import { availableParallelism } from 'node:os';
import { SMALL_FILE, hashFile, hashSmallFileSync, openAndHashSync } from './hash-file.js';
import { POOL_MIN_BYTES, hashFilesInThreads } from './pool.js';
import type { FsHint } from './hint.js';
import { fileSig, nowNs, type StatCache } from './stat-cache.js';
import type { WalkedEntry } from './walk.js';

/** How many files are read at once when hashing (the libuv pool does the I/O). */
const IN_FLIGHT = 32;

/**
 * The tree entries (content digest, size, executable bit, link target) of
 * `entries` under `root`. Unchanged files come from the stat cache; the rest
 * are read and hashed several at a time. A path that vanished is skipped.
 */
export async function hashTree(
  root: string,
  entries: readonly WalkedEntry[],
  cache: StatCache,
  events?: EventSink,
  /** Receives each entry's stat signature (or link target), to detect later changes. */
  sigs?: Map<string, string>,
  /** Entries a file watcher knows unchanged: taken as they are, without an lstat. */
  hint?: FsHint,
): Promise<TreeEntry[]> {
  // Loaded on the first entry the hint does not know: a build whose inputs it all knows never reads it.
  let preloaded = false;
  const out: (TreeEntry | undefined)[] = new Array<TreeEntry | undefined>(entries.length);
  const misses: {
    index: number;
    abs: string;
    sig: ReturnType<typeof fileSig>;
    executable: boolean;
    size: bigint;
  }[] = [];
  const coldStart = nowNs();
  let coldFiles = 0;
  let coldBytes = 0;
  for (let i = 0; i < entries.length; i++) {
    const { path, kind } = entries[i]!;
    const abs = join(root, path);
    const known = hint?.entry(abs);
    if (known !== undefined) {
      if (known.kind === 'symlink') {
        out[i] = { path, kind: 'symlink', target: known.target };
        sigs?.set(path, `-> ${known.target}`);
      } else {
        const { digest, size, executable } = known;
        out[i] = { path, kind: 'file', executable, digest, size };
        sigs?.set(path, known.sig);
      }
      continue;
    }
    if (!preloaded) {
      cache.preload(root);
      preloaded = true;
    }
    let st;
    if (kind === 'file' && !cache.has(abs)) {
      // Never seen: open it once, sign and hash it from the descriptor.
      const got = openAndHashSync(abs);
      if (got?.digest !== undefined && got.size !== undefined) {
        const executable = (got.st.mode & 0o111n) !== 0n;
        out[i] = { path, kind: 'file', executable, digest: got.digest, size: got.size };
        const coldSig = fileSig(got.st);
        cache.record(abs, coldSig, got.digest, got.size, coldStart);
        sigs?.set(path, coldSig.sig);
        hint?.rememberEntry(abs, {
          kind: 'file',
          digest: got.digest,
          size: got.size,
          executable,
          sig: coldSig.sig,
        });
        coldBytes += got.size;
        if (events && ++coldFiles % 1000 === 0) {
          events({ type: 'progress', phase: 'hash', done: coldFiles, bytes: coldBytes });
        }
        continue;
      }
      st = got?.st;
    }
    try {
      st ??= lstatSync(abs, { bigint: true });
    } catch {
      continue;
    }
    if (kind === 'symlink' || st.isSymbolicLink()) {
      const target = readlinkSync(abs);
      out[i] = { path, kind: 'symlink', target };
      sigs?.set(path, `-> ${target}`);
      hint?.rememberEntry(abs, { kind: 'symlink', target });
      continue;
    }
    if (!st.isFile()) continue;
    const executable = (st.mode & 0o111n) !== 0n;
    const sig = fileSig(st);
    sigs?.set(path, sig.sig);
    const hit = cache.lookup(abs, sig);
    if (hit) {
      out[i] = { path, kind: 'file', executable, digest: hit.digest, size: hit.size };
      hint?.rememberEntry(abs, { ...hit, kind: 'file', executable, sig: sig.sig });
    } else misses.push({ index: i, abs, sig, executable, size: st.size });
  }

  const large = misses.filter((m) => m.size > BigInt(SMALL_FILE));
  const largeBytes = large.reduce((n, m) => n + Number(m.size), 0);
  if (large.length >= 2 && largeBytes >= POOL_MIN_BYTES && availableParallelism() > 1) {
    // Large files are CPU-bound to hash: spread them over every core.
    const started = nowNs();
    const results = await hashFilesInThreads(
      large.map((m) => ({ path: m.abs, size: Number(m.size) })),
    );
    const done = new Set<number>();
    results.forEach((r, k) => {
      const m = large[k]!;
      if ('error' in r) return; // hashed again below, where the error surfaces
      out[m.index] = {
        path: entries[m.index]!.path,
        kind: 'file',
        executable: m.executable,
        digest: r.digest,
        size: r.size,
      };
      cache.record(m.abs, m.sig, r.digest, r.size, started);
      hint?.rememberEntry(m.abs, { ...r, kind: 'file', executable: m.executable, sig: m.sig.sig });
      done.add(m.index);
    });
    events?.({
      type: 'progress',
      phase: 'hash',
      done: done.size,
      total: misses.length,
      bytes: largeBytes,
    });
    misses.splice(0, misses.length, ...misses.filter((m) => !done.has(m.index)));
  }

  if (misses.length > 0) {
    const started = nowNs();
    let next = 0;
    let done = 0;
    let bytes = 0;
    const worker = async (): Promise<void> => {
      while (next < misses.length) {
        const m = misses[next++]!;
        const { digest, size } =
          (m.size <= SMALL_FILE ? hashSmallFileSync(m.abs) : undefined) ?? (await hashFile(m.abs));
        out[m.index] = {
          path: entries[m.index]!.path,
          kind: 'file',
          executable: m.executable,
          digest,
          size,
        };
        cache.record(m.abs, m.sig, digest, size, started);
        hint?.rememberEntry(m.abs, {
          kind: 'file',
          digest,
          size,
          executable: m.executable,
          sig: m.sig.sig,
        });
        done++;
        bytes += size;
        if (events && done % 1000 === 0) {
          events({ type: 'progress', phase: 'hash', done, total: misses.length, bytes });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, misses.length) }, worker));
    events?.({ type: 'progress', phase: 'hash', done, total: misses.length, bytes });
  }
  return out.filter((e): e is TreeEntry => e !== undefined);
}

/**
 * The paths among `entries` whose stat signature (or link target) is no
 * longer the one in `sigs`, plus those that vanished: anything written to
 * them since `hashTree` recorded the signatures, even if restored since.
 */
export function changedSince(
  root: string,
  entries: readonly WalkedEntry[],
  sigs: ReadonlyMap<string, string>,
): string[] {
  const changed: string[] = [];
  for (const { path } of entries) {
    const abs = join(root, path);
    let now: string | undefined;
    try {
      const st = lstatSync(abs, { bigint: true });
      now = st.isSymbolicLink() ? `-> ${readlinkSync(abs)}` : fileSig(st).sig;
    } catch {
      now = undefined;
    }
    if (now !== sigs.get(path)) changed.push(path);
  }
  return changed;
}
