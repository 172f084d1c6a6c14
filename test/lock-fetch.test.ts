import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { Digest } from '../src/core/digest.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { runBuild } from '../src/pipeline/build.js';
import { runLock } from '../src/pipeline/lock.js';
import { noEvents } from '../src/core/events.js';

import { runCli } from './helpers/cli.js';

import { npmLock, sharedVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

const sri = (b: Buffer): string => `sha512-${createHash('sha512').update(b).digest('base64')}`;
const sha256 = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A static HTTP server with faults on demand; records every request's path and Authorization header. */
async function startFileServer(): Promise<{
  url: string;
  host: string;
  routes: Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>;
  seen: { path: string; auth: string | undefined; range: string | undefined }[];
  close(): Promise<void>;
}> {
  const routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();
  const seen: { path: string; auth: string | undefined; range: string | undefined }[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', auth: req.headers.authorization, range: req.headers.range });
    const route = routes.get(req.url ?? '');
    if (route) route(req, res);
    else res.writeHead(404).end('not found');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    routes,
    seen,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const serve =
  (body: Buffer) =>
  (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(200, { 'content-length': body.length }).end(body);
  };

/** A lockfileVersion 3 package-lock naming the given tarballs. */
function packageLock(
  pkgs: { name: string; version: string; resolved?: string; integrity?: string }[],
): string {
  const packages: Record<string, object> = { '': { name: 'app', version: '1.0.0' } };
  for (const p of pkgs) {
    packages[`node_modules/${p.name}`] = {
      version: p.version,
      ...(p.resolved ? { resolved: p.resolved } : {}),
      ...(p.integrity ? { integrity: p.integrity } : {}),
    };
  }
  return JSON.stringify(
    { name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages },
    null,
    2,
  );
}

const YAML = (extra = ''): string =>
  `version: 1\nname: app\n${extra}targets:\n  app:\n    sources: ["package.json"]\n    npm: { lockfile: package-lock.json }\n    steps: ["true"]\n    outputs: ["out/**"]\n`;

let work: string;
let reg: TestNpmRegistry;
let files: Awaited<ReturnType<typeof startFileServer>>;
let other: Awaited<ReturnType<typeof startFileServer>>;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-lockfetch-'));
  [reg, files, other] = await Promise.all([
    sharedVerdaccio(),
    startFileServer(),
    startFileServer(),
  ]);
  await reg.publish('tiny-a', '1.0.0');
  await reg.publish('tiny-b', '2.0.0', {}, { dependencies: { 'tiny-a': '1.0.0' } });
}, 120_000);

afterAll(async () => {
  await Promise.all([reg?.stop(), files?.close(), other?.close()]);
  await rm(work, { recursive: true, force: true });
});

/** A fresh project dir and store. */
async function fresh(): Promise<{ dir: string; store: string }> {
  const base = join(work, `p${n++}`);
  await mkdir(join(base, 'app'), { recursive: true });
  return { dir: join(base, 'app'), store: join(base, 'store') };
}

const fast = { attempts: 3, sleep: () => Promise.resolve(), idleTimeoutMs: 500 };

async function blobs(store: string): Promise<string[]> {
  return readdir(join(store, 'blobs', 'sha256')).catch(() => []);
}

async function lockThenFetch(dir: string, store: string) {
  await runLock({ project: await loadConfig(dir) });
  return runFetch({ project: await loadConfig(dir), store, download: fast });
}

describe('airlock lock and fetch against a real npm registry (verdaccio)', () => {
  it('locks every package of the package-lock, fetches each verified, and downloads nothing the second time', async () => {
    const { dir, store } = await fresh();
    await writeFile(join(dir, 'airlock.yaml'), YAML());
    await npmLock(dir, reg, { 'tiny-b': '2.0.0' });
    const report = await runLock({ project: await loadConfig(dir) });
    expect(report.counts.npm).toBe(2);
    const text = await readFile(join(dir, 'airlock.lock'), 'utf8');
    expect(text).toMatch(/"name":"tiny-a".*"version":"1.0.0"/);
    const first = await runFetch({ project: await loadConfig(dir), store, download: fast });
    expect(first.downloaded.count).toBe(2);
    expect(first.downloaded.bytes).toBeGreaterThan(0);
    expect(first.lockUpdated).toBe(true);
    // Each recorded sha256 is a blob of the store whose sha512 is the package-lock's integrity.
    const lock = JSON.parse(await readFile(join(dir, 'airlock.lock'), 'utf8')) as {
      npm: { integrity: string; sha256: string }[];
    };
    for (const e of lock.npm) {
      const bytes = await readFile(join(store, 'blobs', 'sha256', e.sha256.slice(7)));
      expect(sri(bytes)).toBe(e.integrity);
    }
    const second = await runFetch({ project: await loadConfig(dir), store, download: fast });
    expect(second.downloaded).toEqual({ count: 0, bytes: 0 });
    expect(second.present).toBe(2);
    // lock --check agrees with what fetch recorded.
    await expect(runLock({ project: await loadConfig(dir), check: true })).resolves.toMatchObject({
      differences: [],
    });
  }, 60_000);

  it('fails lock --check listing a package bumped in the package-lock', async () => {
    const { dir } = await fresh();
    await writeFile(join(dir, 'airlock.yaml'), YAML());
    await npmLock(dir, reg, { 'tiny-a': '1.0.0' });
    await runLock({ project: await loadConfig(dir) });
    await reg.publish('tiny-a', '1.0.1');
    await npmLock(dir, reg, { 'tiny-a': '1.0.1' });
    await expect(runLock({ project: await loadConfig(dir), check: true })).rejects.toMatchObject({
      code: 'LOCK_STALE',
      message: expect.stringMatching(
        /npm tiny-a@1\.0\.1: not in airlock\.lock[\s\S]*npm tiny-a@1\.0\.0: in airlock\.lock but no longer needed/,
      ),
    });
  }, 60_000);

  it('fails with FETCHED_HASH_MISMATCH when the package-lock integrity is wrong, storing nothing', async () => {
    const { dir, store } = await fresh();
    await writeFile(join(dir, 'airlock.yaml'), YAML());
    await npmLock(dir, reg, { 'tiny-a': '1.0.0' });
    const pl = await readFile(join(dir, 'package-lock.json'), 'utf8');
    await writeFile(
      join(dir, 'package-lock.json'),
      pl.replace(/"integrity": "sha512-[^"]+"/, `"integrity": "${sri(Buffer.from('other'))}"`),
    );
    await expect(lockThenFetch(dir, store)).rejects.toMatchObject({
      code: 'FETCHED_HASH_MISMATCH',
      message: expect.stringContaining('tiny-a@1.0.0'),
    });
    expect(await blobs(store)).toEqual([]);
  }, 60_000);

  it('uses mirrors.npm instead of the public registry, and sends the .npmrc token only to its host', async () => {
    const { dir, store } = await fresh();
    const tarball = Buffer.from('tarball bytes of left-pad');
    files.routes.set('/left-pad/-/left-pad-1.3.0.tgz', serve(tarball));
    await writeFile(join(dir, 'airlock.yaml'), YAML(`mirrors: { npm: "${files.url}/" }\n`));
    await writeFile(
      join(dir, 'package-lock.json'),
      packageLock([
        {
          name: 'left-pad',
          version: '1.3.0',
          resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
          integrity: sri(tarball),
        },
      ]),
    );
    await writeFile(
      join(dir, '.npmrc'),
      `//${files.host}/:_authToken=mirror-secret\n//${other.host}/:_authToken=other-secret\n`,
    );
    const before = files.seen.length;
    await lockThenFetch(dir, store);
    const hits = files.seen.slice(before);
    expect(hits).toEqual([
      { path: '/left-pad/-/left-pad-1.3.0.tgz', auth: 'Bearer mirror-secret' },
    ]);
    expect(await blobs(store)).toEqual([sha256(tarball).slice(7)]);
  }, 30_000);
});

describe('airlock fetch on bad inputs: a clear error, nothing unverified stored', () => {
  const tarball = Buffer.from('the real tarball bytes, long enough to be cut in half somewhere');

  async function withResolved(path: string, opts: { integrity?: string; npmrc?: string } = {}) {
    const { dir, store } = await fresh();
    await writeFile(join(dir, 'airlock.yaml'), YAML());
    await writeFile(
      join(dir, 'package-lock.json'),
      packageLock([
        {
          name: 'pkg',
          version: '1.0.0',
          resolved: `${files.url}${path}`,
          integrity: opts.integrity ?? sri(tarball),
        },
      ]),
    );
    if (opts.npmrc) await writeFile(join(dir, '.npmrc'), opts.npmrc);
    return { dir, store };
  }

  it('refuses a corrupted tarball with the package, expected and actual hash', async () => {
    const bad = Buffer.from(tarball);
    bad[3] = bad[3]! ^ 1;
    files.routes.set('/corrupt.tgz', serve(bad));
    const { dir, store } = await withResolved('/corrupt.tgz');
    const err = await lockThenFetch(dir, store).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FETCHED_HASH_MISMATCH' });
    const message = (err as Error).message;
    expect(message).toContain('pkg@1.0.0');
    expect(message).toContain(sri(tarball));
    expect(message).toContain(sri(bad));
    expect(await blobs(store)).toEqual([]);
    expect(await readdir(join(store, 'tmp'))).toEqual([]);
  });

  it('refuses a truncated download (the server closes mid-body)', async () => {
    files.routes.set('/truncated.tgz', (_req, res) => {
      res.writeHead(200, { 'content-length': tarball.length });
      res.write(tarball.subarray(0, 10));
      setImmediate(() => res.socket?.destroy());
    });
    const { dir, store } = await withResolved('/truncated.tgz');
    await expect(lockThenFetch(dir, store)).rejects.toMatchObject({
      code: 'FETCH_FAILED',
      message: expect.stringContaining('failed 3 time(s)'),
    });
    expect(await blobs(store)).toEqual([]);
  });

  it('names the URL and status on a 404, without retrying it', async () => {
    const { dir, store } = await withResolved('/gone.tgz');
    const before = files.seen.length;
    await expect(lockThenFetch(dir, store)).rejects.toMatchObject({
      code: 'FETCH_FAILED',
      message: expect.stringContaining(`HTTP 404 from ${files.url}/gone.tgz`),
    });
    expect(files.seen.slice(before).filter((s) => s.path === '/gone.tgz')).toHaveLength(1);
  });

  it('retries a 500 and gives up after the last attempt', async () => {
    files.routes.set('/500.tgz', (_req, res) => res.writeHead(500).end('boom'));
    const { dir, store } = await withResolved('/500.tgz');
    const before = files.seen.length;
    await expect(lockThenFetch(dir, store)).rejects.toMatchObject({ code: 'FETCH_FAILED' });
    expect(files.seen.slice(before).filter((s) => s.path === '/500.tgz')).toHaveLength(3);
  });

  it('retries a 429 and succeeds once the server answers', async () => {
    let calls = 0;
    files.routes.set('/429.tgz', (req, res) => {
      calls++;
      if (calls < 3) res.writeHead(429, { 'retry-after': '0' }).end();
      else serve(tarball)(req, res);
    });
    const { dir, store } = await withResolved('/429.tgz');
    const got = await lockThenFetch(dir, store);
    expect(calls).toBe(3);
    expect(got.downloaded.count).toBe(1);
    expect(await blobs(store)).toEqual([sha256(tarball).slice(7)]);
  });

  /**
   * Sends the first `cut` bytes of `body` and stops (once); the client's idle
   * timeout gives up on it after reading them, and the connection is cut when
   * the client comes back. A Range request gets 206 (or, `ignoreRange`, the
   * whole body). Cutting only once the client has asked again keeps the test
   * deterministic: bytes still queued when a stream errors are dropped.
   */
  const cutting = (
    body: Buffer,
    cut: number,
    opts: { ignoreRange?: boolean; rest?: Buffer } = {},
  ) => {
    let cuts = 0;
    let stalled: { destroy(): void } | undefined;
    return (req: http.IncomingMessage, res: http.ServerResponse): void => {
      stalled?.destroy();
      stalled = undefined;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m && !opts.ignoreRange && req.headers['if-range'] === '"v1"') {
        const from = Number(m[1]);
        const rest = (opts.rest ?? body).subarray(from);
        res
          .writeHead(206, {
            'content-length': rest.length,
            'content-range': `bytes ${from}-${body.length - 1}/${body.length}`,
            etag: '"v1"',
          })
          .end(rest);
        return;
      }
      if (m || cuts++ > 0) {
        serve(body)(req, res);
        return;
      }
      res.writeHead(200, {
        'content-length': body.length,
        'accept-ranges': 'bytes',
        etag: '"v1"',
      });
      res.write(body.subarray(0, cut));
      stalled = res.socket ?? undefined;
    };
  };

  it('resumes a download cut mid-body with a Range request from where it stopped, verified whole', async () => {
    const big = Buffer.alloc(256 * 1024, 7);
    big.write('a resumable tarball');
    files.routes.set('/resume.tgz', cutting(big, 100_000));
    const { dir, store } = await withResolved('/resume.tgz', { integrity: sri(big) });
    const before = files.seen.length;
    const got = await lockThenFetch(dir, store);
    const asked = files.seen.slice(before).filter((s) => s.path === '/resume.tgz');
    expect(asked).toHaveLength(2);
    expect(asked[0]?.range).toBeUndefined();
    const from = Number(/^bytes=(\d+)-$/.exec(asked[1]?.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(100_000);
    // Nothing was downloaded twice: the resumed stream continued where the first stopped.
    expect(got.downloaded).toEqual({ count: 1, bytes: big.length });
    expect(await blobs(store)).toEqual([sha256(big).slice(7)]);
  });

  it('starts over when the server ignores the Range request, and still verifies', async () => {
    const big = Buffer.alloc(128 * 1024, 3);
    files.routes.set('/norange.tgz', cutting(big, 50_000, { ignoreRange: true }));
    const { dir, store } = await withResolved('/norange.tgz', { integrity: sri(big) });
    const before = files.seen.length;
    await lockThenFetch(dir, store);
    const asked = files.seen.slice(before).filter((s) => s.path === '/norange.tgz');
    expect(asked.map((s) => s.range?.replace(/\d+/, 'N'))).toEqual([
      undefined,
      'bytes=N-',
      undefined,
    ]);
    expect(await blobs(store)).toEqual([sha256(big).slice(7)]);
  });

  it('refuses a resumed download whose remainder is different bytes, storing nothing', async () => {
    const big = Buffer.alloc(128 * 1024, 5);
    const other = Buffer.alloc(128 * 1024, 6);
    files.routes.set('/badrest.tgz', cutting(big, 50_000, { rest: other }));
    const { dir, store } = await withResolved('/badrest.tgz', { integrity: sri(big) });
    await expect(lockThenFetch(dir, store)).rejects.toMatchObject({
      code: 'FETCHED_HASH_MISMATCH',
    });
    expect(await blobs(store)).toEqual([]);
  });

  it('gives up on a server that never answers (idle timeout)', async () => {
    files.routes.set('/hang.tgz', () => undefined);
    const { dir, store } = await withResolved('/hang.tgz');
    await expect(lockThenFetch(dir, store)).rejects.toMatchObject({
      code: 'FETCH_FAILED',
      message: expect.stringContaining('no data for 500 ms'),
    });
    expect(await blobs(store)).toEqual([]);
  });

  it('does not carry the auth token across a redirect to another host', async () => {
    other.routes.set('/moved.tgz', serve(tarball));
    const otherUrl = other.url.replace('127.0.0.1', 'localhost');
    files.routes.set('/redirect.tgz', (_req, res) =>
      res.writeHead(302, { location: `${otherUrl}/moved.tgz` }).end(),
    );
    const { dir, store } = await withResolved('/redirect.tgz', {
      npmrc: `//${files.host}/:_authToken=s3cret-token\n`,
    });
    const before = { files: files.seen.length, other: other.seen.length };
    await lockThenFetch(dir, store);
    expect(files.seen.slice(before.files)).toEqual([
      { path: '/redirect.tgz', auth: 'Bearer s3cret-token' },
    ]);
    expect(other.seen.slice(before.other)).toEqual([{ path: '/moved.tgz', auth: undefined }]);
  });

  it('refuses a package-lock entry without resolved, saying how to regenerate the lock', async () => {
    const { dir } = await fresh();
    await writeFile(join(dir, 'airlock.yaml'), YAML());
    await writeFile(
      join(dir, 'package-lock.json'),
      packageLock([{ name: 'pkg', version: '1.0.0', integrity: sri(tarball) }]),
    );
    const err = await runLock({ project: await loadConfig(dir) }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'NPM_LOCK_INCOMPLETE',
      message: expect.stringContaining('node_modules/pkg (pkg@1.0.0): no resolved'),
      hint: expect.stringContaining('npm install --package-lock-only'),
    });
  });

  it('refuses a hand-edited airlock.lock before downloading anything', async () => {
    files.routes.set('/ok.tgz', serve(tarball));
    const { dir, store } = await withResolved('/ok.tgz');
    await runLock({ project: await loadConfig(dir) });
    const text = await readFile(join(dir, 'airlock.lock'), 'utf8');
    await writeFile(
      join(dir, 'airlock.lock'),
      text.replace(sri(tarball), sri(Buffer.from('evil'))),
    );
    const before = files.seen.length;
    await expect(
      runFetch({ project: await loadConfig(dir), store, download: fast }),
    ).rejects.toMatchObject({
      code: 'LOCK_STALE',
      message: expect.stringContaining('npm pkg@1.0.0'),
    });
    expect(files.seen.length).toBe(before);
    await writeFile(
      join(dir, 'airlock.lock'),
      text.replace('"format": "airlock.lock/v1"', '"format": "airlock.lock/v9"'),
    );
    await expect(
      runFetch({ project: await loadConfig(dir), store, download: fast }),
    ).rejects.toMatchObject({
      code: 'LOCK_INVALID',
    });
  });

  it('fetches a files: entry by sha256 and refuses one whose bytes differ', async () => {
    const tool = Buffer.from('#!/bin/sh\necho tool\n');
    files.routes.set('/tool.sh', serve(tool));
    const { dir, store } = await fresh();
    const yaml = (hash: string): string =>
      `version: 1\nname: app\nfiles:\n  tool: { url: "${files.url}/tool.sh", sha256: "${hash}", executable: true }\ntargets:\n  app: { sources: ["airlock.yaml"], steps: ["true"], outputs: ["out/**"] }\n`;
    await writeFile(join(dir, 'airlock.yaml'), yaml(sha256(tool)));
    const got = await lockThenFetch(dir, store);
    expect(got.downloaded.count).toBe(1);
    expect(await blobs(store)).toEqual([sha256(tool).slice(7)]);
    const { dir: dir2, store: store2 } = await fresh();
    await writeFile(join(dir2, 'airlock.yaml'), yaml(sha256(Buffer.from('x'))));
    await expect(lockThenFetch(dir2, store2)).rejects.toMatchObject({
      code: 'FETCHED_HASH_MISMATCH',
      message: expect.stringContaining('file tool'),
    });
    expect(await blobs(store2)).toEqual([]);
  });
});

describe('the lock in builds and on the command line', () => {
  const tarball = Buffer.from('some tarball');
  const newer = Buffer.from('some newer tarball');

  async function project(): Promise<{ dir: string; store: string }> {
    files.routes.set('/p-1.tgz', serve(tarball));
    files.routes.set('/p-2.tgz', serve(newer));
    const { dir, store } = await fresh();
    await writeFile(join(dir, 'airlock.yaml'), YAML());
    await writeFile(join(dir, 'package.json'), '{"name":"app"}');
    await writeFile(
      join(dir, 'package-lock.json'),
      packageLock([
        { name: 'p', version: '1.0.0', resolved: `${files.url}/p-1.tgz`, integrity: sri(tarball) },
      ]),
    );
    return { dir, store };
  }
  const bump = (dir: string): Promise<void> =>
    writeFile(
      join(dir, 'package-lock.json'),
      packageLock([
        { name: 'p', version: '2.0.0', resolved: `${files.url}/p-2.tgz`, integrity: sri(newer) },
      ]),
    );

  it('a frozen build fails on a stale lock listing the difference; an unfrozen one updates it and names airlock fetch', async () => {
    const { dir, store } = await project();
    await runLock({ project: await loadConfig(dir) });
    await bump(dir);
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents, frozen: true }),
    ).rejects.toMatchObject({
      code: 'LOCK_STALE',
      message: expect.stringContaining('npm p@2.0.0: not in airlock.lock'),
    });
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({
      code: 'INPUT_NOT_FETCHED',
      message: expect.stringContaining('p@2.0.0'),
    });
    expect(await readFile(join(dir, 'airlock.lock'), 'utf8')).toContain(sri(newer));
  });

  it('airlock lock --check exits 1 listing each difference; fetch reports the bytes, then none', async () => {
    const { dir, store } = await project();
    expect((await runCli(['lock', '-C', dir])).status).toBe(0);
    await bump(dir);
    const check = await runCli(['lock', '--check', '-C', dir]);
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('error[LOCK_STALE]');
    expect(check.stderr).toContain('npm p@2.0.0: not in airlock.lock');
    expect(check.stderr).toContain('npm p@1.0.0: in airlock.lock but no longer needed');
    expect((await runCli(['lock', '-C', dir])).status).toBe(0);
    const first = await runCli(['--store', store, 'fetch', '-C', dir]);
    expect(first.stdout).toBe(
      `fetched 1 input(s), ${newer.length} bytes; 0 already in the store; 0 image(s); recorded tarball sha256s in airlock.lock\n`,
    );
    const second = await runCli(['--store', store, 'fetch', '-C', dir]);
    expect(second.stdout).toBe('fetched 0 input(s), 0 bytes; 1 already in the store; 0 image(s)\n');
  });
});
