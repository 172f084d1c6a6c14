import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/*
 * Blob bodies are most of a pull's CPU: fetch reads a socket in 64 KiB
 * buffers and passes each through two stream layers (about 0.3 s of CPU per
 * 100 MB here). This GET reads the socket straight into 1 MiB slabs (the
 * socket's `onread` option, no copy) and hands those views on, a few hundred
 * instead of thousands of chunks, as a standard Response. It speaks only the
 * simplest HTTP/1.1: one request per connection (`Connection: close`), a body
 * with a Content-Length or chunked, and no content encoding; for anything
 * else it answers undefined and the caller uses fetch.
 */

const SLAB = 1 << 20;
/** A slab with less room than this left is retired for a fresh one. */
const MIN_READ = 64 * 1024;
/** Status line and headers larger than this are refused. */
const MAX_HEAD = 64 * 1024;

/** The faults this module raises itself; any other error of a body is wrapped as fetch wraps it. */
const own = new WeakSet<Error>();

/** A connection reset (as the socket reports one), so retries and resumes treat it as one. */
function connectionReset(message: string): Error {
  const err = Object.assign(new Error(message), { code: 'ECONNRESET' });
  own.add(err);
  return err;
}

/** The response head, or undefined while `\r\n\r\n` has not arrived yet. */
function parseHead(
  bytes: Buffer,
): { status: number; headers: Headers; bodyStart: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) throw connectionReset('the server did not answer with an HTTP/1.1 status line');
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw connectionReset('the server sent a malformed header line');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), headers, bodyStart: end + 4 };
}

/**
 * GETs `url` (http or https, verified against the default CAs like fetch)
 * with `headers`; resolves with the Response once its head has arrived, or
 * undefined when the response is not a plain Content-Length one. `signal`
 * aborts the wait for the head. A body cut short errors with ECONNRESET.
 */
export function rawGet(
  url: URL,
  headers: Readonly<Record<string, string>>,
  signal?: AbortSignal,
): Promise<Response | undefined> {
  return rawRequest('GET', url, headers, signal);
}

/** A request body of a known length, streamed to the socket as it is read. */
export interface RawUpload {
  /** Exactly `length` bytes; each chunk is written as is (no copy) and not reused. */
  body: AsyncIterable<Uint8Array>;
  length: number;
}

/**
 * Sends `method url` with a streamed body of `upload.length` bytes
 * (`Content-Length`, never chunked) straight to the socket, chunk by chunk
 * with the socket's back-pressure and no copy, and resolves with the
 * Response once its head has arrived. Upload bodies are most of a push's
 * CPU through fetch, which copies every chunk into its own stream. Fails as
 * fetch does (`TypeError('fetch failed')` with the cause) when the
 * connection, TLS or the body source fails before the head; a server that
 * answers before reading the whole body (401, 413) stops the upload and its
 * answer is returned. A response body it cannot frame (no length, an
 * encoding) is returned empty rather than asked for again: the upload is spent.
 */
export function rawSend(
  method: 'PATCH' | 'PUT' | 'POST',
  url: URL,
  headers: Readonly<Record<string, string>>,
  upload: RawUpload,
  signal?: AbortSignal,
): Promise<Response> {
  return rawRequest(method, url, headers, signal, upload) as Promise<Response>;
}

function rawRequest(
  method: string,
  url: URL,
  headers: Readonly<Record<string, string>>,
  signal: AbortSignal | undefined,
  upload?: RawUpload,
): Promise<Response | undefined> {
  return new Promise((resolve, reject) => {
    const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
    const given = new Set<string>();
    for (const [name, value] of Object.entries(headers)) {
      if (/[\r\n:]/.test(name) || /[\r\n]/.test(value)) {
        reject(new TypeError(`header ${JSON.stringify(name)} has a line break or colon`));
        return;
      }
      const lower = name.toLowerCase();
      // The framing is this function's own: a given length or coding could contradict the body.
      if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'host') continue;
      given.add(lower);
      lines.push(`${name}: ${value}`);
    }
    if (upload !== undefined) {
      if (!Number.isSafeInteger(upload.length) || upload.length < 0) {
        reject(new TypeError(`the body length ${upload.length} is not a byte count`));
        return;
      }
      lines.push(`content-length: ${upload.length}`);
    }
    if (!given.has('accept')) lines.push('accept: */*');
    if (!given.has('user-agent')) lines.push('user-agent: node');
    lines.push('accept-encoding: identity', 'connection: close', '', '');

    let slab = Buffer.allocUnsafe(SLAB);
    let used = 0;
    const nextBuffer = (): Buffer => {
      if (SLAB - used < MIN_READ) {
        slab = Buffer.allocUnsafe(SLAB);
        used = 0;
      }
      return slab.subarray(used);
    };
    let head: Buffer | undefined;
    let settled = false;
    let remaining = 0;
    let received = 0;
    let body: ReadableStreamDefaultController<Uint8Array> | undefined;
    let done = false;

    const fail = (err: Error): void => {
      if (done) return;
      done = true;
      sock.destroy();
      if (!settled) {
        settled = true;
        // As fetch fails (a TLS refusal, a reset, a refused connection), so callers treat both alike.
        reject(err.name === 'AbortError' ? err : new TypeError('fetch failed', { cause: err }));
      } else body?.error(own.has(err) ? err : new TypeError('terminated', { cause: err }));
    };
    const deliver = (chunk: Buffer): void => {
      if (chunk.byteLength > remaining) {
        fail(connectionReset('the response body is longer than its Content-Length'));
        return;
      }
      remaining -= chunk.byteLength;
      received += chunk.byteLength;
      if (chunk.byteLength > 0) body?.enqueue(chunk);
      if (remaining === 0 && !done) {
        done = true;
        body?.close();
        sock.destroy();
      }
    };
    // Chunked transfer coding (RFC 9112 section 7.1): `<hex size>[;ext]\r\n<data>\r\n` … `0\r\n<trailers>\r\n`.
    let chunked = false;
    let line = ''; // a size or trailer line not yet ended
    let phase: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
    const dechunk = (input: Buffer): void => {
      let at = 0;
      while (at < input.byteLength && !done) {
        if (phase === 'data') {
          const n = Math.min(remaining, input.byteLength - at);
          remaining -= n;
          received += n;
          body?.enqueue(input.subarray(at, at + n));
          at += n;
          if (remaining === 0) phase = 'crlf';
          continue;
        }
        const nl = input.indexOf(0x0a, at);
        line += input.subarray(at, nl < 0 ? input.byteLength : nl + 1).toString('latin1');
        at = nl < 0 ? input.byteLength : nl + 1;
        if (line.length > 4096) {
          fail(connectionReset('a chunk size or trailer line is too long'));
          return;
        }
        if (nl < 0) continue;
        const text = line.replace(/\r?\n$/, '');
        line = '';
        if (phase === 'crlf') {
          if (text !== '') fail(connectionReset('a chunk does not end with CRLF'));
          phase = 'size';
        } else if (phase === 'size') {
          const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(text);
          if (!m) {
            fail(connectionReset('the server sent a malformed chunk size'));
            return;
          }
          remaining = Number.parseInt(m[1]!, 16);
          phase = remaining === 0 ? 'trailer' : 'data';
        } else if (text === '') {
          done = true;
          body?.close();
          sock.destroy();
        }
      }
    };
    const onHead = (bytes: Buffer): void => {
      const parsed = parseHead(bytes);
      if (parsed === undefined) {
        if (bytes.byteLength > MAX_HEAD)
          fail(connectionReset('the response head is larger than 64 KiB'));
        else head = bytes;
        return;
      }
      const { status, headers: h, bodyStart } = parsed;
      if (status >= 100 && status < 200 && status !== 101) {
        // An interim answer (100 Continue, 103 Early Hints): the final one follows it.
        const rest = bytes.subarray(bodyStart);
        head = undefined;
        if (rest.byteLength > 0) onHead(rest);
        return;
      }
      const length = h.get('content-length');
      const encoding = h.get('content-encoding');
      const transfer = h.get('transfer-encoding')?.toLowerCase();
      chunked = transfer === 'chunked';
      if (
        status < 200 ||
        status > 599 ||
        (transfer !== undefined && !chunked) ||
        (encoding !== null && encoding.toLowerCase() !== 'identity') ||
        (!chunked && (length === null || !/^\d{1,15}$/.test(length)))
      ) {
        done = true;
        settled = true;
        sock.destroy();
        // A spent upload cannot be sent again through fetch: its status and headers are the answer.
        resolve(
          upload !== undefined && status >= 200 && status <= 599
            ? new Response(null, { status, headers: h })
            : undefined,
        );
        return;
      }
      remaining = chunked ? 0 : Number(length);
      const nullBody = status === 204 || status === 304 || method === 'HEAD';
      const stream = nullBody
        ? null
        : new ReadableStream<Uint8Array>(
            {
              start: (c) => {
                body = c;
              },
              pull: () => {
                sock.resume();
              },
              cancel: () => {
                done = true;
                sock.destroy();
              },
            },
            { highWaterMark: 4 },
          );
      settled = true;
      resolve(new Response(stream, { status, headers: h }));
      const rest = bytes.subarray(bodyStart);
      if (nullBody) {
        done = true;
        sock.destroy();
      } else if (chunked) dechunk(rest);
      else deliver(rest);
    };

    const onread = {
      buffer: nextBuffer,
      callback: (n: number, buf: Buffer): boolean => {
        if (done) return false;
        const chunk = buf.subarray(0, n);
        used += n;
        if (!settled) onHead(head === undefined ? chunk : Buffer.concat([head, chunk]));
        else if (chunked) dechunk(chunk);
        else deliver(chunk);
        // Back-pressure: stop reading while the consumer has 4 chunks unread.
        if (!done && body !== undefined && (body.desiredSize ?? 1) <= 0) sock.pause();
        return true;
      },
    };
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    const sock: Socket =
      url.protocol === 'https:'
        ? tlsConnect({
            host: hostname,
            port,
            ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
            ALPNProtocols: ['http/1.1'],
            onread,
            // onread is a net.Socket option TLSSocket honours; the types leave it out.
          } as ConnectionOptions)
        : netConnect({ host: hostname, port, onread });
    sock.on('error', fail);
    sock.on('close', () => {
      if (!done)
        fail(
          connectionReset(
            settled
              ? `the connection closed after ${received} bytes of the body, ${remaining} short`
              : 'the connection closed before the response head',
          ),
        );
    });
    if (signal !== undefined) {
      const onAbort = (): void => {
        if (!settled)
          fail(Object.assign(new Error('the request was aborted'), { name: 'AbortError' }));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      sock.on('close', () => signal.removeEventListener('abort', onAbort));
    }
    sock.write(lines.join('\r\n'));
    if (upload !== undefined) void pump(upload);

    /** Writes the upload body until it ends, the server answers or the exchange fails. */
    async function pump({ body: src, length }: RawUpload): Promise<void> {
      let sent = 0;
      try {
        for await (const chunk of src) {
          if (settled || done) return; // answered early, or failed: the rest is not wanted
          sent += chunk.byteLength;
          if (sent > length) {
            fail(new Error(`the request body is longer than its length ${length}`));
            return;
          }
          if (!sock.write(chunk)) await drained();
        }
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (sent !== length && !settled && !done)
        fail(new Error(`the request body ended after ${sent} of its ${length} bytes`));
    }

    /** Resolves once the socket wants more, or it is closed (the next write is then moot). */
    function drained(): Promise<void> {
      return new Promise((r) => {
        const wake = (): void => {
          sock.off('drain', wake);
          sock.off('close', wake);
          r();
        };
        sock.on('drain', wake);
        sock.on('close', wake);
      });
    }
  });
}
