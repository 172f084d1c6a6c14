// A real npm registry for the tests: verdaccio (an exact-pinned devDependency)
// as a child process on 127.0.0.1 with a config and storage in a temp dir,
// filled with packages the test writes. One verdaccio serves the whole run
// (test/helpers/verdaccio-setup.ts starts it; `sharedVerdaccio()` reaches it):
// each start costs a second or two of CPU, and most files only read from it.
// Publishing sends npm's own publish document (the packument with the tarball
// attached) in one PUT, as `npm publish` does, without starting npm.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { packTarGz, type PackEntry } from '../../src/archive/index.js';
import { spawnVerdaccio } from './verdaccio-setup.js';

const run = promisify(execFile);

/**
 * The environment without the `npm_config_*` variables `npm test` / `npx`
 * export from the user's config: npm run by a test behaves as a plain `npm`.
 */
export function npmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.toLowerCase().startsWith('npm_config_')) env[k] = v;
  return { ...env, ...extra };
}
export interface TestNpmRegistry {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  host: string;
  /** A token for the test user. */
  token: string;
  /** An .npmrc text pointing npm at this registry with the token. */
  npmrc: string;
  /**
   * Publishes a package (files by path) as `name@version`. On the shared
   * registry a version another file already published is accepted only when
   * its tarball is byte-identical (the tarballs are deterministic); other
   * content under the same name fails: give the package a name of its own.
   */
  publish(
    name: string,
    version: string,
    files?: Record<string, string>,
    extra?: object,
  ): Promise<void>;
  /**
   * Publishes an installed package's directory (e.g. `node_modules/typescript`:
   * the files its publisher packed) as `npm pack` would pack it, in-process.
   */
  publishDir(dir: string): Promise<void>;
  /** Stops a registry this file started; the run's shared one is stopped by its global set-up. */
  stop(): Promise<void>;
}

/** Waits until verdaccio at `url` answers its ping; `failed` says why it never will (it exited). */
async function ready(url: string, failed: () => string | undefined): Promise<void> {
  for (let i = 0; ; i++) {
    const why = failed();
    if (why !== undefined) throw new Error(why);
    if (i > 600) throw new Error(`verdaccio at ${url} did not start`);
    try {
      const res = await fetch(`${url}-/ping`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The registry at `url` as a test uses it: logs in as the test user (created on first use). */
async function connect(url: string, stop: () => Promise<void>): Promise<TestNpmRegistry> {
  // Creates the user; once it exists (another file of the run created it), logs in as it.
  const user = { name: 'tester', password: 'tester-password' };
  const login = (auth?: string) =>
    fetch(`${url}-/user/org.couchdb.user:tester`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        ...(auth ? { authorization: auth } : {}),
      },
      body: JSON.stringify(user),
    });
  let res = await login();
  if (res.status === 409) {
    await res.body?.cancel();
    res = await login(`Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`);
  }
  const { token } = (await res.json()) as { token?: string };
  if (!res.ok || !token) throw new Error(`verdaccio at ${url} gave no token (${res.status})`);
  const host = new URL(url).host;
  const npmrc = `registry=${url}\n//${host}/:_authToken=${token}\n`;
  const put = (manifest: { name: string; version: string }, tgz: Buffer) =>
    putPackage(url, token, manifest, tgz);
  return {
    url,
    host,
    token,
    npmrc,
    async publish(name, version, files = {}, extra = {}) {
      const manifest = { name, version, main: 'index.js', ...extra };
      const all: Record<string, string> = {
        'package.json': JSON.stringify(manifest),
        'index.js': `module.exports = ${JSON.stringify(`${name}@${version}`)};\n`,
        ...files,
      };
      await put(manifest, await tarball(all));
    },
    async publishDir(dir) {
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
      };
      await put(manifest, await pack(await packageEntries(dir)));
    },
    stop,
  };
}

/** `files` as npm packs them: under `package/`, mode 0644, npm's fixed mtime (1985-10-26). */
async function tarball(files: Record<string, string>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-npm-pkg-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      const abs = join(dir, path);
      await mkdir(join(abs, '..'), { recursive: true });
      await writeFile(abs, text);
    }
    return await pack(await packageEntries(dir));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every file under `dir` as an entry under `package/`, executable when its mode says so. */
async function packageEntries(dir: string): Promise<PackEntry[]> {
  const entries: PackEntry[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    const executable = ((await stat(abs)).mode & 0o111) !== 0;
    entries.push({ path: `package/${relative(dir, abs)}`, kind: 'file', absPath: abs, executable });
  }
  return entries;
}

/** A deterministic .tgz of `entries` with npm's fixed mtime (gzip level 1: typescript is 24 MB). */
async function pack(entries: PackEntry[]): Promise<Buffer> {
  const packed = packTarGz(entries, { mtime: 499162500, level: 1 });
  const parts: Buffer[] = [];
  for await (const c of packed.stream) parts.push(c);
  await packed.result;
  return Buffer.concat(parts);
}

/** npm's publish: one PUT of the packument with the tarball attached (what libnpmpublish sends). */
async function putPackage(
  url: string,
  token: string,
  manifest: { name: string; version: string },
  tgz: Buffer,
): Promise<void> {
  const { name, version } = manifest;
  const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`;
  const file = `${name}-${version}.tgz`;
  const doc = {
    _id: name,
    name,
    'dist-tags': { latest: version },
    versions: {
      [version]: {
        ...manifest,
        _id: `${name}@${version}`,
        dist: {
          integrity,
          shasum: createHash('sha1').update(tgz).digest('hex'),
          tarball: `${url}${name}/-/${file}`,
        },
      },
    },
    access: null,
    _attachments: {
      [file]: {
        content_type: 'application/octet-stream',
        data: tgz.toString('base64'),
        length: tgz.length,
      },
    },
  };
  const path = `${url}${name.replace('/', '%2f')}`;
  const res = await fetch(path, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(doc),
  });
  const answer = await res.text();
  if (res.ok) return;
  // Already there (another file of the run published it, maybe at this moment):
  // fine when it is the same tarball.
  for (let i = 0; i < 100; i++) {
    const got = await fetch(path);
    const packument = got.ok
      ? ((await got.json()) as { versions?: Record<string, { dist?: { integrity?: string } }> })
      : (await got.body?.cancel(), {});
    const there = packument.versions?.[version]?.dist?.integrity;
    if (there === integrity) return;
    if (there !== undefined)
      throw new Error(
        `${name}@${version} is already in the run's shared npm registry with other content: ` +
          'give this test file’s package a name of its own',
      );
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`publishing ${name}@${version} failed: ${res.status} ${answer}`);
}

/** Starts a verdaccio of this file's own (the run's shared one is `sharedVerdaccio()`). */
export async function startVerdaccio(): Promise<TestNpmRegistry> {
  const v = await spawnVerdaccio();
  try {
    await ready(v.url, () =>
      v.child.exitCode !== null ? `verdaccio exited: ${v.log()}` : undefined,
    );
    return await connect(v.url, () => v.stop());
  } catch (err) {
    await v.stop();
    throw err;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The URL of the run's verdaccio (test/helpers/verdaccio-setup.ts). */
    verdaccio: string;
  }
}

/** The run's one verdaccio, started by the global set-up; its `stop` leaves it running. */
export async function sharedVerdaccio(): Promise<TestNpmRegistry> {
  const url = inject('verdaccio');
  if (!url)
    throw new Error('no shared verdaccio: test/helpers/verdaccio-setup.ts is not a globalSetup');
  await ready(url, () => undefined);
  return connect(url, () => Promise.resolve());
}

/** Writes a package-lock.json for `dependencies` from the registry (`npm install --package-lock-only`). */
export async function npmLock(
  dir: string,
  reg: TestNpmRegistry,
  dependencies: Record<string, string>,
  extra: object = {},
): Promise<void> {
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify(
      { name: 'app', version: '1.0.0', private: true, dependencies, ...extra },
      null,
      2,
    ),
  );
  const rc = join(dir, '..', `npmrc-${Math.random().toString(16).slice(2)}`);
  await writeFile(rc, reg.npmrc);
  await run(
    'npm',
    [
      'install',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--omit-lockfile-registry-resolved=false',
      '--userconfig',
      rc,
      '--registry',
      reg.url,
    ],
    {
      cwd: dir,
      env: npmEnv({ npm_config_cache: join(dir, '..', 'npm-cache') }),
    },
  );
  await rm(rc, { force: true });
}
