import { createHash } from 'node:crypto';
import type { Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { mapLimit } from '../registry/retry.js';
import { download, showUrl, type DownloadOptions } from './download.js';
import type { LockErrorCode } from './errors.js';
import type { FileLockEntry, Lock, NpmLockEntry } from './model.js';
import { sha512Of } from './npm-lock.js';
import { tokenFor, type NpmRc } from './npmrc.js';

/** Where fetched content goes: the store (verified writes: a failing stream commits nothing). */
export interface BlobSink {
  has(digest: Digest): Promise<boolean>;
  putStream(
    src: AsyncIterable<Uint8Array>,
    expect?: { digest?: Digest; size?: number },
  ): Promise<{ digest: Digest; size: number }>;
}

export interface FetchOptions extends Omit<DownloadOptions, 'authorize'> {
  sink: BlobSink;
  /** .npmrc: tokens by registry prefix, and `registry=` as the npm mirror. */
  npmrc?: NpmRc;
  /** Replaces `https://registry.npmjs.org/` in tarball URLs (config `mirrors.npm`, else .npmrc `registry=`). */
  npmMirror?: string;
  /** Downloads at once (default 8). */
  concurrency?: number;
  events?: EventSink;
}

export interface FetchReport {
  /** The lock with every tarball's sha256 filled in. */
  lock: Lock;
  downloaded: { count: number; bytes: number };
  present: number;
}

const PUBLIC_REGISTRY = 'https://registry.npmjs.org/';

/** The URL a tarball is downloaded from: the public registry's origin swapped for the mirror. */
export function mirrored(resolved: string, mirror: string | undefined): string {
  if (mirror === undefined || !resolved.startsWith(PUBLIC_REGISTRY)) return resolved;
  return `${mirror.endsWith('/') ? mirror : `${mirror}/`}${resolved.slice(PUBLIC_REGISTRY.length)}`;
}

const mismatch = (
  what: string,
  algo: string,
  expected: string,
  actual: string,
): AirlockError<LockErrorCode> =>
  new AirlockError<LockErrorCode>(
    'FETCHED_HASH_MISMATCH',
    `${what}: the download's ${algo} is ${actual}, airlock.lock expects ${expected}; nothing was stored`,
    {
      hint: 'The server sent different bytes (a corrupted or truncated download, a tampered mirror, or a republished version). Nothing unverified was kept; check the source, and if the new content is legitimate, regenerate the lock that records it.',
      details: { input: what, algorithm: algo, expected, actual },
    },
  );

/**
 * Passes `src` through while hashing it; at its end, before the consumer can
 * commit, throws FETCHED_HASH_MISMATCH when the sha512 (base64, as in SRI)
 * or the sha256 differ from what is expected.
 */
async function* verified(
  src: AsyncIterable<Uint8Array>,
  what: string,
  expect: { sha512?: string; sha256?: Digest },
  counted: (n: number) => void,
): AsyncGenerator<Uint8Array> {
  const h512 = createHash('sha512');
  const h256 = createHash('sha256');
  for await (const chunk of src) {
    h512.update(chunk);
    h256.update(chunk);
    counted(chunk.byteLength);
    yield chunk;
  }
  const s512 = h512.digest('base64');
  const s256: Digest = `sha256:${h256.digest('hex')}`;
  if (expect.sha512 !== undefined && s512 !== expect.sha512)
    throw mismatch(what, 'sha512', `sha512-${expect.sha512}`, `sha512-${s512}`);
  if (expect.sha256 !== undefined && s256 !== expect.sha256)
    throw mismatch(what, 'sha256', expect.sha256, s256);
}

/**
 * Downloads every locked npm tarball and file not yet in the store, at most
 * `concurrency` at once, each verified against the lock (SRI sha512 for
 * tarballs, sha256 for files) before the store commits it. Content already
 * present costs no request.
 */
export async function fetchLocked(lock: Lock, opts: FetchOptions): Promise<FetchReport> {
  const events = opts.events ?? noEvents;
  const rc = opts.npmrc;
  const authorize = (url: URL): string | undefined => {
    const token = rc ? tokenFor(rc, url) : undefined;
    return token === undefined ? undefined : `Bearer ${token}`;
  };
  const mirror = opts.npmMirror ?? rc?.registry;
  const total = lock.npm.length + lock.files.length;
  let done = 0;
  let bytes = 0;
  let count = 0;
  let present = 0;
  const progress = (): void => events({ type: 'progress', phase: 'fetch', done, total, bytes });
  const dl = (
    what: string,
    url: string,
    expect: { sha512?: string; sha256?: Digest },
    auth: boolean,
  ) =>
    download(
      what,
      url,
      async (body) => {
        let got = 0;
        try {
          return await opts.sink.putStream(
            verified(body, what, expect, (n) => {
              got += n;
              bytes += n;
              progress();
            }),
            expect.sha256 ? { digest: expect.sha256 } : undefined,
          );
        } catch (err) {
          bytes -= got; // a failed attempt's bytes are counted again by the next
          throw err;
        }
      },
      { ...opts, ...(auth ? { authorize } : {}) },
    );

  const npm = await mapLimit(
    lock.npm,
    opts.concurrency ?? 8,
    async (entry, _i, signal): Promise<NpmLockEntry> => {
      if (signal.aborted) return entry;
      const what = `${entry.name}@${entry.version}`;
      if (entry.sha256 !== undefined && (await opts.sink.has(entry.sha256))) {
        present++;
        done++;
        progress();
        return entry;
      }
      const sha512 = sha512Of(entry.integrity);
      if (sha512 === undefined)
        throw new AirlockError<LockErrorCode>(
          'LOCK_INVALID',
          `airlock.lock: ${what} has no sha512 integrity`,
          {
            hint: 'Run `airlock lock` again from a package-lock.json written by npm 7 or newer.',
          },
        );
      const url = mirrored(entry.resolved, mirror);
      const got = await dl(
        what,
        url,
        { sha512, ...(entry.sha256 ? { sha256: entry.sha256 } : {}) },
        true,
      );
      count++;
      done++;
      progress();
      events({
        type: 'log',
        level: 'debug',
        message: `fetched ${what} from ${showUrl(url)} (${got.size} bytes)`,
      });
      return { ...entry, sha256: got.digest };
    },
  );
  const files = await mapLimit(
    lock.files,
    opts.concurrency ?? 8,
    async (entry): Promise<FileLockEntry> => {
      if (await opts.sink.has(entry.sha256)) {
        present++;
        done++;
        progress();
        return entry;
      }
      // Files carry no registry credentials: they are public URLs.
      await dl(`file ${entry.name}`, entry.url, { sha256: entry.sha256 }, false);
      count++;
      done++;
      progress();
      return entry;
    },
  );
  return { lock: { ...lock, npm, files }, downloaded: { count, bytes }, present };
}

/** Streams `url` and returns its sha256 without keeping it (for a `files:` entry the config does not pin). */
export async function hashUrl(
  what: string,
  url: string,
  opts: DownloadOptions = {},
): Promise<Digest> {
  return download(
    what,
    url,
    async (body): Promise<Digest> => {
      const h = createHash('sha256');
      for await (const chunk of body) h.update(chunk);
      return `sha256:${h.digest('hex')}`;
    },
    opts,
  );
}
