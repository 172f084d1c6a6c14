import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.js';
import { rawGet } from './raw-get.js';
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
});
