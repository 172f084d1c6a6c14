// Test infrastructure for the registry client: a real distribution 2.8
// (`/usr/bin/docker-registry`) on 127.0.0.1, an auth proxy, and a TCP proxy
// that can cut connections mid-stream.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  port: number;
  root: string;
  stop(): Promise<void>;
}

async function waitForV2(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log()}`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer ${url}: ${log()}`);
}

/** Starts Debian's docker-registry with its own config on 127.0.0.1 and a temporary storage root. */
export async function startRegistry(): Promise<TestRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'airlock-registry-'));
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(root, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
  await mkdir(join(root, 'data'));
  await writeFile(join(root, 'config.yml'), config);
  const child = spawn('/usr/bin/docker-registry', ['serve', join(root, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  await waitForV2(`http://127.0.0.1:${port}/v2/`, child, () => stderr);
  return {
    host: `127.0.0.1:${port}`,
    port,
    root,
    async stop() {
      // A child killed by a signal (Ctrl-C reaches the whole process group) has no exit code.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface TestServer {
  host: string;
  port: number;
  /** Requests seen, as `METHOD path authorization?` lines. */
  seen: string[];
  stop(): Promise<void>;
}

/** Listens an http server on a free 127.0.0.1 port. */
export async function listen(handler: http.RequestListener): Promise<TestServer> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Forwards one request to `upstreamPort` on 127.0.0.1, streaming both ways. */
function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstreamPort: number,
  selfHost: string,
): void {
  const headers = { ...req.headers };
  delete headers.authorization;
  const up = http.request(
    { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers },
    (upRes) => {
      const h = { ...upRes.headers };
      if (typeof h.location === 'string')
        h.location = h.location.replace(/127\.0\.0\.1:\d+/, selfHost);
      res.writeHead(upRes.statusCode ?? 502, h);
      upRes.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
}

export interface AuthProxyOptions {
  mode: 'basic' | 'bearer';
  username: string;
  password: string;
  /** Override the WWW-Authenticate header (to test malformed challenges). */
  challenge?: string;
}

/**
 * An auth front for a registry, standing in for htpasswd (which needs
 * bcrypt): Basic mode checks the credential on every request; Bearer mode
 * answers 401 with a challenge and serves tokens at /token for the right
 * credential, scoped to what was asked.
 */
export async function startAuthProxy(
  upstream: TestRegistry,
  opts: AuthProxyOptions,
): Promise<TestServer & { tokensIssued: string[] }> {
  const tokensIssued: string[] = [];
  const tokens = new Set<string>();
  const basic = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
  let self = '';
  const srv = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (opts.mode === 'bearer' && url.pathname === '/token') {
      if (req.headers.authorization !== basic) {
        res.writeHead(401).end();
        return;
      }
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      tokensIssued.push(
        `${url.searchParams.get('service')}|${url.searchParams.getAll('scope').join(' ')}`,
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      return;
    }
    const auth = req.headers.authorization ?? '';
    const ok =
      opts.mode === 'basic'
        ? auth === basic
        : auth.startsWith('Bearer ') && tokens.has(auth.slice(7));
    if (!ok) {
      const m = /^\/v2\/(.+?)\/(?:blobs|manifests|tags|referrers)\//.exec(url.pathname);
      const scope = m
        ? ` ,scope="repository:${m[1]}:${req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'pull,push'}"`
        : '';
      const challenge =
        opts.challenge ??
        (opts.mode === 'basic'
          ? 'Basic realm="test"'
          : `Bearer realm="http://${self}/token",service="test-registry"${scope.replace(' ,', ',')}`);
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      req.resume();
      return;
    }
    forward(req, res, upstream.port, self);
  });
  self = srv.host;
  return Object.assign(srv, { tokensIssued });
}

export interface TcpProxy {
  host: string;
  port: number;
  /**
   * Reset the next connection after this many bytes have flowed in
   * `direction`; with `afterHeadersOf`, count only the body bytes of the next
   * request with that method (0 cuts it right after its headers).
   */
  cutNext(
    direction: 'upload' | 'download',
    afterBytes: number,
    opts?: { afterHeadersOf?: string },
  ): void;
  cuts: number;
  stop(): Promise<void>;
}

/** A TCP proxy to `upstreamPort` that can reset a connection mid-stream, once per `cutNext`. */
export async function startTcpProxy(upstreamPort: number): Promise<TcpProxy> {
  let plan:
    { direction: 'upload' | 'download'; afterBytes: number; afterHeadersOf?: string } | undefined;
  const sockets = new Set<net.Socket>();
  const state = { cuts: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let counted = 0;
    // Bytes seen while waiting for the end of the headers of `afterHeadersOf`.
    let pending = Buffer.alloc(0);
    let inBody = false;
    const cut = (): void => {
      state.cuts++;
      plan = undefined;
      client.resetAndDestroy();
      upstream.destroy();
    };
    /** How many bytes of `chunk` count towards the cut (all, or only request-body bytes). */
    const counting = (chunk: Buffer, method: string | undefined): number => {
      if (method === undefined || inBody) return chunk.length;
      pending = Buffer.concat([pending, chunk]);
      const text = pending.toString('latin1');
      const start = text.startsWith(`${method} `) ? 0 : text.indexOf(`\r\n${method} `);
      const end = start < 0 ? -1 : text.indexOf('\r\n\r\n', start);
      if (end < 0) return 0;
      inBody = true;
      return pending.length - (end + 4);
    };
    const pump = (from: net.Socket, to: net.Socket, direction: 'upload' | 'download'): void => {
      from.on('data', (chunk: Buffer) => {
        if (plan?.direction === direction) {
          counted += counting(chunk, plan.afterHeadersOf);
          if (counted > plan.afterBytes || (inBody && plan.afterBytes === 0)) {
            const keep = chunk.length - (counted - plan.afterBytes);
            if (keep > 0) to.write(chunk.subarray(0, keep));
            cut();
            return;
          }
        }
        to.write(chunk);
      });
    };
    pump(client, upstream, 'upload');
    pump(upstream, client, 'download');
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    cutNext(direction, afterBytes, opts = {}) {
      plan = { direction, afterBytes, ...opts };
    },
    get cuts() {
      return state.cuts;
    },
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** sha256 of bytes in the OCI form. */
export function digestOf(data: Uint8Array | string): `sha256:${string}` {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A fresh temp dir under os.tmpdir(). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `airlock-${prefix}-`));
}
