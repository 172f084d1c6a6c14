import { isAirlockError } from '../core/errors.js';

/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results keep
 * input order. On the first failure no new item starts, `signal` (given to
 * every call) is aborted so running siblings can stop early, and the
 * rejection comes only after every started call has settled: nothing is
 * still writing when the caller sees the error.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  const abort = new AbortController();
  let failure: { err: unknown } | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i, abort.signal);
      } catch (err) {
        if (failure === undefined) {
          failure = { err };
          abort.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.err;
  return out;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** True for network faults worth retrying (reset, refused, timeout), never for Airlock's own errors. */
export function isTransientNetworkError(err: unknown): boolean {
  if (isAirlockError(err)) return false;
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== 'object') break;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    const name = (e as { name?: unknown }).name;
    if (name === 'AbortError' || name === 'TimeoutError') return true;
    if (e instanceof TypeError && /fetch failed|terminated|other side closed/i.test(e.message))
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_NODATA', 'EAI_FAIL']);

/**
 * True when the registry's name did not resolve: with no DNS (an offline
 * machine) a retry only waits, so such faults are reported at once.
 */
export function isDnsFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== 'object') break;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && DNS_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Exponential backoff with a cap: 250 ms, 500 ms, 1 s … at most 8 s. */
export function backoffMs(attempt: number): number {
  return Math.min(8000, 250 * 2 ** attempt);
}

/**
 * Milliseconds a `Retry-After` header asks for (delta-seconds or an HTTP
 * date relative to `now`), capped at `capMs`; undefined when absent or unreadable.
 */
export function retryAfterMs(
  header: string | null,
  now: number,
  capMs = 30_000,
): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(capMs, Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(capMs, Math.max(0, at - now));
}
