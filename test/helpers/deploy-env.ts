// Real servers for the deploy tests, each on 127.0.0.1 with a random port and
// a temp dir: HAProxy (runtime API socket + Prometheus exporter), Prometheus
// (short scrape interval, file_sd for the services), a load generator, and a
// registry front that tampers with manifests.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { haproxyConfig } from '../../src/deploy/index.js';
import { freePort, listen, type TestRegistry, type TestServer } from './registry.js';

export interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

function spawnLogged(cmd: string, args: string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(`\n${String(err)}`)));
  return { child, log: () => out };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function waitFor(
  url: string,
  child: ChildProcess,
  log: () => string,
  what: string,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited: ${log()}`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not answer ${url}: ${log()}`);
}

export interface TestHaproxy extends Proc {
  port: number;
  metricsPort: number;
  socket: string;
  backend: string;
}

/** Starts HAProxy for one region: a frontend, a backend with slots a and b, the exporter, the admin socket. */
export async function startHaproxy(dir: string, backend: string): Promise<TestHaproxy> {
  const port = await freePort();
  const metricsPort = await freePort();
  const socket = join(dir, `${backend}.sock`);
  const cfg = join(dir, `${backend}.cfg`);
  writeFileSync(cfg, haproxyConfig({ socket, port, metricsPort, backend }));
  // -db: stay in the foreground, no daemon.
  const { child, log } = spawnLogged('haproxy', ['-db', '-f', cfg]);
  await waitFor(`http://127.0.0.1:${metricsPort}/metrics`, child, log, 'haproxy');
  return { child, port, metricsPort, socket, backend, stop: () => stopChild(child) };
}

export interface TestPrometheus extends Proc {
  url: string;
}

/**
 * Starts Prometheus scraping `haproxy` exporters and the services listed in
 * `sdFiles` every `scrapeMs` (default 1000; a gate's window, the step's hold,
 * needs at least two scrapes in it).
 */
export async function startPrometheus(
  dir: string,
  haproxy: string[],
  sdFiles: string[],
  scrapeMs = 1000,
): Promise<TestPrometheus> {
  const port = await freePort();
  const cfg = join(dir, 'prometheus.yml');
  for (const f of sdFiles) writeFileSync(f, '[]\n');
  writeFileSync(
    cfg,
    [
      `global: { scrape_interval: ${scrapeMs}ms, evaluation_interval: ${scrapeMs}ms, scrape_timeout: ${Math.floor(scrapeMs * 0.9)}ms }`,
      'scrape_configs:',
      '  - job_name: haproxy',
      // Server metrics only (what the gates query): the exporter's whole page is
      // several times larger, and parsing it every scrape is most of the servers' CPU.
      '    params: { scope: [server] }',
      `    static_configs: [{ targets: ${JSON.stringify(haproxy)} }]`,
      ...(sdFiles.length === 0
        ? []
        : [
            '  - job_name: services',
            `    file_sd_configs: [{ files: ${JSON.stringify(sdFiles)}, refresh_interval: 1s }]`,
          ]),
      '',
    ].join('\n'),
  );
  const { child, log } = spawnLogged('prometheus', [
    `--config.file=${cfg}`,
    `--storage.tsdb.path=${join(dir, `tsdb-${port}`)}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/-/ready`, child, log, 'prometheus');
  return { child, url, stop: () => stopChild(child) };
}

/** One answer the load generator got. */
export interface Hit {
  at: number;
  status: number;
  /** The x-release header: which version answered ('' when none). */
  release: string;
  error?: string;
}

/** Sends requests to `url` from `workers` loops until stopped, recording every answer. */
export function loadGenerator(
  url: string,
  workers = 2,
  pauseMs = 15,
): { hits: Hit[]; stop(): Promise<void> } {
  const hits: Hit[] = [];
  let running = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          hits.push({
            at: Date.now(),
            status: res.statusCode ?? 0,
            release: String(res.headers['x-release'] ?? ''),
          });
          resolve();
        });
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        hits.push({ at: Date.now(), status: 0, release: '', error: err.message });
        resolve();
      });
    });
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      await one();
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    hits,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/**
 * A front for a registry that serves manifests other than those stored
 * (a byte appended to every manifest GET): what a compromised or
 * misconfigured region registry looks like to a client.
 */
export async function startTamperingRegistry(upstream: TestRegistry): Promise<TestServer> {
  return listen((req, res) => {
    const headers = { ...req.headers };
    const up = http.request(
      { host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers },
      (upRes) => {
        const isManifest = req.method === 'GET' && /\/manifests\//.test(req.url ?? '');
        if (!isManifest) {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.concat([...chunks, Buffer.from(' ')]);
          const h: http.OutgoingHttpHeaders = {
            ...upRes.headers,
            'content-length': String(body.byteLength),
          };
          delete h['docker-content-digest'];
          res.writeHead(upRes.statusCode ?? 502, h);
          res.end(body);
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
}
