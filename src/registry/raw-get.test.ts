import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.js';
import { rawGet, rawSend } from './raw-get.js';
import { isTransientNetworkError } from './retry.js';
import { sha256 } from '../core/digest.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** An HTTP server on 127.0.0.1 for one test; its origin. */
async function http(handler: RequestListener): Promise<string> {
  const srv = createHttpServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => srv.close(() => r())));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

/** A TCP server that answers every connection with `answer(socket)`; its origin and sockets. */
async function tcp(
  answer: (s: Socket) => void,
): Promise<{ origin: string; closed: Promise<void> }> {
  let onClose: () => void = () => {};
  const closed = new Promise<void>((r) => (onClose = r));
  const srv = createNetServer((s) => {
    s.on('close', onClose);
    s.on('error', () => {});
    s.resume(); // read the request (and the client's close)
    answer(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => srv.close(() => r())));
  return { origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, closed };
}

async function readAll(res: Response): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return Buffer.concat(parts);
}

describe('rawGet', () => {
  it('returns a Content-Length body byte for byte, with its status and headers', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const origin = await http((_req, res) => {
      res.writeHead(206, { 'content-length': String(data.length), 'x-thing': 'a' }).end(data);
    });
    const res = await rawGet(new URL(`${origin}/v2/x/blobs/y?z=1`), {});
    expect(res?.status).toBe(206);
    expect(res?.headers.get('x-thing')).toBe('a');
    expect((await readAll(res!)).equals(data)).toBe(true);
  });

  it('decodes a chunked body', async () => {
    const parts = [randomBytes(70_000), randomBytes(1), randomBytes(300_000)];
    const origin = await http((_req, res) => {
      res.writeHead(200); // no length: Node sends it chunked
      for (const p of parts) res.write(p);
      res.end();
    });
    const res = await rawGet(new URL(`${origin}/b`), {});
    expect(res?.headers.get('transfer-encoding')).toBe('chunked');
    expect((await readAll(res!)).equals(Buffer.concat(parts))).toBe(true);
  });

  it('sends the path, query, given headers and Connection: close, and nothing compressed is asked for', async () => {
    let seen: Record<string, unknown> = {};
    const origin = await http((req, res) => {
      seen = { url: req.url, ...req.headers };
      res.writeHead(200, { 'content-length': '2' }).end('ok');
    });
    const res = await rawGet(new URL(`${origin}/v2/a/blobs/b?x=1`), { authorization: 'Bearer t' });
    expect((await readAll(res!)).toString()).toBe('ok');
    expect(seen).toMatchObject({
      url: '/v2/a/blobs/b?x=1',
      authorization: 'Bearer t',
      connection: 'close',
      'accept-encoding': 'identity',
    });
  });

  it('answers undefined for a compressed body, so the caller uses fetch', async () => {
    const origin = await http((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': '3' }).end('abc');
    });
    expect(await rawGet(new URL(`${origin}/`), {})).toBeUndefined();
  });

  it('refuses a header value with a line break (no request smuggling)', async () => {
    await expect(rawGet(new URL('http://127.0.0.1:9/'), { x: 'a\r\nHost: evil' })).rejects.toThrow(
      /line break/,
    );
  });

  it('errors the body with a transient ECONNRESET when the connection drops mid-body', async () => {
    const { origin } = await tcp((s) => {
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789');
    });
    const res = await rawGet(new URL(`${origin}/`), {});
    const err = await readAll(res!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ECONNRESET' });
    expect(isTransientNetworkError(err)).toBe(true);
  });

  it('rejects a body longer than its Content-Length', async () => {
    const { origin } = await tcp((s) => {
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabcdef');
    });
    const res = await rawGet(new URL(`${origin}/`), {});
    await expect(readAll(res!)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('closes the connection when the body is cancelled', async () => {
    const { origin, closed } = await tcp((s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n');
      s.write(Buffer.alloc(1 << 20));
    });
    const res = await rawGet(new URL(`${origin}/`), {});
    await res!.body!.cancel();
    await closed; // the test times out if the socket stays open
  });
});

/** A body of `parts`, counting how many of them were pulled; `fault` is thrown after them when given. */
function source(
  parts: Buffer[],
  fault?: Error,
): { body: AsyncIterable<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  return {
    body: (async function* () {
      for (const p of parts) {
        await Promise.resolve(); // a chunk at a time, as a file read delivers them
        pulled++;
        yield p;
      }
      if (fault) throw fault;
    })(),
    pulled: () => pulled,
  };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('rawSend', () => {
  it('sends the method, path, headers and the body byte for byte with its Content-Length', async () => {
    const parts = [randomBytes(3 << 20), randomBytes(1), randomBytes(700_001)];
    const data = Buffer.concat(parts);
    let seen: Record<string, unknown> = {};
    let got = Buffer.alloc(0);
    const origin = await http((req, res) => {
      seen = { method: req.method, url: req.url, ...req.headers };
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got = Buffer.concat(chunks);
        res.writeHead(202, { location: '/v2/a/blobs/uploads/next', 'content-length': '0' }).end();
      });
    });
    const res = await rawSend(
      'PATCH',
      new URL(`${origin}/v2/a/blobs/uploads/u1?s=2`),
      { authorization: 'Bearer t', 'content-range': `0-${data.length - 1}` },
      { body: source(parts).body, length: data.length },
    );
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe('/v2/a/blobs/uploads/next');
    expect(got.equals(data)).toBe(true);
    expect(seen).toMatchObject({
      method: 'PATCH',
      url: '/v2/a/blobs/uploads/u1?s=2',
      authorization: 'Bearer t',
      'content-length': String(data.length),
      connection: 'close',
    });
    expect(seen['transfer-encoding']).toBeUndefined();
  });

  it('frames the body itself: a given Content-Length or Transfer-Encoding is not sent (no request smuggling)', async () => {
    let seen: Record<string, unknown> = {};
    const origin = await http((req, res) => {
      seen = { ...req.headers };
      req.resume();
      req.on('end', () => res.writeHead(201, { 'content-length': '0' }).end());
    });
    const res = await rawSend(
      'PUT',
      new URL(`${origin}/`),
      { 'Content-Length': '1', 'transfer-encoding': 'chunked' },
      { body: source([Buffer.from('abc')]).body, length: 3 },
    );
    expect(res.status).toBe(201);
    expect(seen['content-length']).toBe('3');
    expect(seen['transfer-encoding']).toBeUndefined();
  });

  it('skips an interim 100 Continue and returns the final answer', async () => {
    const { origin } = await tcp((s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\n');
      setTimeout(() => s.end('HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok'), 20);
    });
    const res = await rawSend(
      'PATCH',
      new URL(`${origin}/`),
      {},
      {
        body: source([Buffer.from('abc')]).body,
        length: 3,
      },
    );
    expect(res.status).toBe(202);
    expect((await readAll(res)).toString()).toBe('ok');
  });

  it('stops sending when the server answers before reading the body, and returns that answer', async () => {
    const { origin } = await tcp((s) => {
      s.end(
        'HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm="r"\r\ncontent-length: 0\r\n\r\n',
      );
    });
    const parts = new Array<Buffer>(400).fill(Buffer.alloc(1 << 20));
    const src = source(parts);
    const res = await rawSend(
      'PATCH',
      new URL(`${origin}/`),
      {},
      {
        body: src.body,
        length: 400 << 20,
      },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="r"');
    expect(src.pulled()).toBeLessThan(400);
  });

  it('fails as fetch does, transiently, when the connection is cut mid-body', async () => {
    let received = 0;
    const { origin } = await tcp((s) => {
      s.on('data', (c: Buffer) => {
        received += c.byteLength;
        if (received > 1_000_000) s.destroy();
      });
    });
    const parts = Array.from({ length: 64 }, () => Buffer.alloc(256 * 1024));
    const err = await failure(
      rawSend('PATCH', new URL(`${origin}/`), {}, { body: source(parts).body, length: 16 << 20 }),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('fetch failed');
    expect(isTransientNetworkError(err)).toBe(true);
  });

  it('fails with the error of the body source as the cause when reading it fails', async () => {
    const origin = await http((req) => req.resume());
    const eio = Object.assign(new Error('read failed'), { code: 'EIO' });
    const err = await failure(
      rawSend(
        'PATCH',
        new URL(`${origin}/`),
        {},
        {
          body: source([Buffer.from('ab')], eio).body,
          length: 10,
        },
      ),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect((err as { cause?: unknown }).cause).toBe(eio);
  });

  it('refuses a body shorter or longer than its length instead of sending a wrong request', async () => {
    const origin = await http((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(202, { 'content-length': '0' }).end());
    });
    const short = await failure(
      rawSend(
        'PATCH',
        new URL(`${origin}/`),
        {},
        {
          body: source([Buffer.from('abc')]).body,
          length: 5,
        },
      ),
    );
    expect((short as { cause?: Error }).cause?.message).toMatch(/ended after 3 of its 5 bytes/);
    const long = await failure(
      rawSend(
        'PATCH',
        new URL(`${origin}/`),
        {},
        {
          body: source([Buffer.from('abc'), Buffer.from('def')]).body,
          length: 4,
        },
      ),
    );
    expect((long as { cause?: Error }).cause?.message).toMatch(/longer than its length 4/);
  });

  it('returns the status and headers of an answer it cannot frame, with an empty body', async () => {
    const { origin } = await tcp((s) => {
      s.on('data', () => {
        s.end('HTTP/1.1 202 Accepted\r\nlocation: /next\r\n\r\nbody until close');
      });
    });
    const res = await rawSend(
      'PATCH',
      new URL(`${origin}/`),
      {},
      {
        body: source([Buffer.from('abc')]).body,
        length: 3,
      },
    );
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe('/next');
    expect(res.body).toBeNull();
    expect(await res.text()).toBe('');
  });

  it('refuses a header value with a line break', async () => {
    await expect(
      rawSend(
        'PATCH',
        new URL('http://127.0.0.1:9/'),
        { x: 'a\r\nHost: evil' },
        {
          body: source([]).body,
          length: 0,
        },
      ),
    ).rejects.toThrow(/line break/);
  });
});

describe('rawGet over https', () => {
  it('refuses a server whose certificate no trusted CA signed, failing as fetch does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raw-get-tls-'));
    try {
      execFileSync('openssl', [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
        ...['-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1'],
        ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
      ]);
      const srv = createHttpsServer(
        { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) },
        (_req, res) => res.writeHead(200, { 'content-length': '2' }).end('ok'),
      );
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      closers.push(() => new Promise((r) => srv.close(() => r())));
      const port = (srv.address() as AddressInfo).port;
      const err = await rawGet(new URL(`https://localhost:${port}/`), {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TypeError);
      expect((err as Error).message).toBe('fetch failed');
      expect((err as { cause?: { code?: string } }).cause?.code).toBe(
        'DEPTH_ZERO_SELF_SIGNED_CERT',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RegistryClient blob bodies', () => {
  it('are read without fetch (undici makes no request for them)', async () => {
    const data = randomBytes(300_000);
    const origin = await http((_req, res) => {
      res.writeHead(200, { 'content-length': String(data.length) }).end(data);
    });
    const host = origin.slice('http://'.length);
    const undici: string[] = [];
    const onRequest = (m: unknown): void => {
      undici.push((m as { request: { path: string } }).request.path);
    };
    subscribe('undici:request:create', onRequest);
    try {
      const c = new RegistryClient(host, { insecure: [host] });
      const parts: Uint8Array[] = [];
      const digest = sha256(data);
      for await (const chunk of c.blobStream('app', { mediaType: 'x', digest, size: data.length }))
        parts.push(chunk);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
    } finally {
      unsubscribe('undici:request:create', onRequest);
    }
    expect(undici).toEqual([]);
  });

  it('are uploaded without fetch (undici sees no PATCH), and the registry gets the exact bytes', async () => {
    const data = randomBytes(2_000_000);
    const digest = sha256(data);
    const stored: Buffer[] = [];
    const origin = await http((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const path = req.url ?? '';
        if (req.method === 'HEAD') res.writeHead(404).end();
        else if (req.method === 'POST')
          res.writeHead(202, { location: '/v2/app/blobs/uploads/s1' }).end();
        else if (req.method === 'PATCH') {
          stored.push(Buffer.concat(parts));
          res.writeHead(202, { location: '/v2/app/blobs/uploads/s1' }).end();
        } else if (req.method === 'PUT' && path.includes(`digest=${encodeURIComponent(digest)}`))
          res.writeHead(201, { 'docker-content-digest': digest }).end();
        else res.writeHead(400).end();
      });
    });
    const host = origin.slice('http://'.length);
    const undici: string[] = [];
    const onRequest = (m: unknown): void => {
      undici.push((m as { request: { method: string } }).request.method);
    };
    subscribe('undici:request:create', onRequest);
    try {
      const c = new RegistryClient(host, { insecure: [host] });
      const result = await c.pushBlob('app', {
        digest,
        size: data.length,
        open(offset: number) {
          const parts: Uint8Array[] = [];
          for (let at = offset; at < data.length; at += 300_000)
            parts.push(data.subarray(at, Math.min(data.length, at + 300_000)));
          return Readable.from(parts);
        },
      });
      expect(result).toBe('uploaded');
    } finally {
      unsubscribe('undici:request:create', onRequest);
    }
    expect(Buffer.concat(stored).equals(data)).toBe(true);
    expect(undici).not.toContain('PATCH');
  });
});
