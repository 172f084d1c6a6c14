import { AirlockError } from '../core/errors.js';
import { backoffMs, isTransientNetworkError, retryAfterMs } from '../registry/retry.js';
import type { LockErrorCode } from './errors.js';

/** Adds credentials to a request for `url` (never logged); undefined: none. */
export type Authorizer = (url: URL) => string | undefined;

/** How downloads behave; every field has a default. */
export interface DownloadOptions {
  /** Attempts for 429, 5xx, resets and timeouts (default 4). */
  attempts?: number;
  /** No byte for this long aborts the attempt (default 30 s). */
  idleTimeoutMs?: number;
  /** Waits between attempts (default: real timers). */
  sleep?: (ms: number) => Promise<void>;
  /** The `Authorization` header value for a URL, consulted again after every redirect. */
  authorize?: Authorizer;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 5;

const fetchFailed = (
  what: string,
  message: string,
  hint: string,
  details: object = {},
): AirlockError<LockErrorCode> =>
  new AirlockError<LockErrorCode>('FETCH_FAILED', `${what}: ${message}`, {
    hint,
    details: { input: what, ...details },
  });

/** The URL without credentials, query or fragment, for messages. */
export function showUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unreadable URL)';
  }
}

class Retryable extends Error {
  constructor(
    message: string,
    readonly waitMs?: number,
  ) {
    super(message);
  }
}

/** Resumes at most this many times per attempt before the attempt counts as failed. */
const MAX_RESUMES = 8;

/**
 * The body of a 200 response as one stream that survives a dropped
 * connection: after a reset or a stall, it asks the same URL for the rest
 * (`Range: bytes=<received>-`, with `If-Range` when the server named a
 * validator) and goes on only when the server answers 206 from exactly that
 * offset; otherwise the attempt fails (retryable) and starts over. The
 * consumer hashes the whole stream, so a resumed download is verified like
 * any other.
 */
/** The current request's abort controller, its idle timer, and a fresh controller for a resumed request. */
interface Link {
  abort: AbortController;
  arm: () => void;
  renew: () => void;
}

function resumable(
  first: Response,
  url: URL,
  opts: DownloadOptions,
  ctx: Link,
): { chunks: AsyncIterable<Uint8Array>; cancel: () => Promise<void> } {
  let res = first;
  const validator = first.headers.get('etag') ?? first.headers.get('last-modified');
  const weak = validator?.startsWith('W/') === true;
  let received = 0;
  let resumes = 0;
  const rethrow = (err: unknown): never => {
    if (ctx.abort.signal.reason instanceof Retryable) throw ctx.abort.signal.reason;
    throw err;
  };
  const resume = async (cause: unknown): Promise<void> => {
    await res.body?.cancel().catch(() => undefined);
    if (resumes >= MAX_RESUMES || received === 0 || weak || opts.signal?.aborted) rethrow(cause);
    resumes++;
    ctx.renew();
    const headers: Record<string, string> = {
      accept: '*/*',
      'user-agent': 'airlock',
      range: `bytes=${received}-`,
    };
    if (validator !== null) headers['if-range'] = validator;
    const auth = opts.authorize?.(url);
    if (auth !== undefined) headers.authorization = auth;
    ctx.arm();
    const next = await fetch(url, {
      headers,
      redirect: 'manual',
      signal: ctx.abort.signal,
    }).catch(rethrow);
    const range = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(next.headers.get('content-range') ?? '');
    if (next.status !== 206 || next.body === null || Number(range?.[1]) !== received) {
      await next.body?.cancel().catch(() => undefined);
      throw new Retryable(
        `the connection to ${showUrl(url)} dropped after ${received} bytes and the server did not resume (HTTP ${next.status})`,
      );
    }
    res = next;
  };
  return {
    chunks: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const reader: ReadableStreamDefaultReader<Uint8Array> = res.body!.getReader();
          try {
            for (;;) {
              ctx.arm();
              let step: Awaited<ReturnType<typeof reader.read>>;
              try {
                step = await reader.read();
              } catch (err) {
                if (
                  !(ctx.abort.signal.reason instanceof Retryable) &&
                  !isTransientNetworkError(err)
                )
                  throw err;
                reader.releaseLock();
                await resume(err);
                break;
              }
              if (step.done) return;
              received += step.value.byteLength;
              yield step.value;
            }
          } finally {
            try {
              reader.releaseLock();
            } catch {
              // already released before resuming
            }
          }
        }
      },
    },
    cancel: async () => {
      await res.body?.cancel().catch(() => undefined);
    },
  };
}

/**
 * Streams `url` to `consume` (which must verify before it commits anything),
 * retrying on 429, 5xx, connection resets and idle timeouts with backoff.
 * Redirects are followed by hand so credentials are recomputed for each hop:
 * a token for one host is never sent to another. Every attempt gets a fresh
 * stream; `consume` must leave nothing behind when its stream fails.
 */
export async function download<T>(
  what: string,
  url: string,
  consume: (body: AsyncIterable<Uint8Array>) => Promise<T>,
  opts: DownloadOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 4;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let last: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) {
      const wait =
        last instanceof Retryable && last.waitMs !== undefined
          ? last.waitMs
          : backoffMs(attempt - 1);
      await sleep(wait);
    }
    try {
      return await once(what, url, consume, opts);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (!(err instanceof Retryable) && !isTransientNetworkError(err)) throw err;
      last = err;
    }
  }
  const reason = last instanceof Error ? last.message : String(last);
  throw fetchFailed(
    what,
    `${showUrl(url)} failed ${attempts} time(s); last: ${reason}`,
    'The server kept failing or timing out: try again later, or point `mirrors.npm` in airlock.yaml (or `registry=` in .npmrc) at a mirror.',
    { url: showUrl(url), attempts },
  );
}

async function once<T>(
  what: string,
  first: string,
  consume: (body: AsyncIterable<Uint8Array>) => Promise<T>,
  opts: DownloadOptions,
): Promise<T> {
  const idle = opts.idleTimeoutMs ?? 30_000;
  // One controller per request: a resumed request gets a fresh one (link.renew).
  const link: Link = { abort: new AbortController(), arm: () => undefined, renew: () => undefined };
  const onAbort = (): void => link.abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  link.arm = (): void => {
    clearTimeout(timer);
    const current = link.abort;
    timer = setTimeout(() => current.abort(new Retryable(`no data for ${idle} ms`)), idle);
  };
  link.renew = (): void => {
    link.abort = new AbortController();
  };
  try {
    let url = new URL(first);
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        throw fetchFailed(
          what,
          `refusing to follow a redirect to ${url.protocol}`,
          'Only http(s) downloads are supported.',
        );
      const headers: Record<string, string> = { accept: '*/*', 'user-agent': 'airlock' };
      const auth = opts.authorize?.(url);
      if (auth !== undefined) headers.authorization = auth;
      link.arm();
      let res: Response;
      try {
        res = await fetch(url, { headers, redirect: 'manual', signal: link.abort.signal });
      } catch (err) {
        if (link.abort.signal.reason instanceof Retryable) throw link.abort.signal.reason;
        throw err;
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get('location') !== null) {
        await res.body?.cancel().catch(() => undefined);
        if (hop >= MAX_REDIRECTS)
          throw fetchFailed(
            what,
            `more than ${MAX_REDIRECTS} redirects from ${showUrl(first)}`,
            'Fix the URL or the server.',
          );
        url = new URL(res.headers.get('location')!, url);
        continue;
      }
      if (res.status === 429 || res.status >= 500) {
        await res.body?.cancel().catch(() => undefined);
        throw new Retryable(
          `HTTP ${res.status} from ${showUrl(url)}`,
          retryAfterMs(res.headers.get('retry-after'), Date.now(), 8000),
        );
      }
      if (res.status !== 200 || res.body === null) {
        await res.body?.cancel().catch(() => undefined);
        const hint =
          res.status === 401 || res.status === 403
            ? `The registry refused the credentials: set \`//${url.host}/:_authToken=\${TOKEN}\` in .npmrc.`
            : res.status === 404
              ? 'The server does not have it (any more): check the URL, or regenerate the lock that names it.'
              : 'Check the URL and the server.';
        throw fetchFailed(what, `HTTP ${res.status} from ${showUrl(url)}`, hint, {
          status: res.status,
          url: showUrl(url),
        });
      }
      const body = resumable(res, url, opts, link);
      try {
        return await consume(body.chunks);
      } finally {
        await body.cancel();
      }
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
