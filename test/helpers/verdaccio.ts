// A real npm registry for the tests: verdaccio (an exact-pinned devDependency)
// as a child process on 127.0.0.1 with a config and storage in a temp dir,
// filled with `npm publish` of packages the test writes.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './registry.js';

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
const BIN = resolve(
  import.meta.dirname,
  '..',
  '..',
  'node_modules',
  'verdaccio',
  'bin',
  'verdaccio',
);

export interface TestNpmRegistry {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  host: string;
  /** A token for the test user. */
  token: string;
  /** An .npmrc text pointing npm at this registry with the token. */
  npmrc: string;
  /** Publishes a package (files by path) as `name@version`. */
  publish(
    name: string,
    version: string,
    files?: Record<string, string>,
    extra?: object,
  ): Promise<void>;
  stop(): Promise<void>;
}

/** Starts verdaccio on a free port with no uplinks (nothing leaves the machine). */
export async function startVerdaccio(): Promise<TestNpmRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'airlock-verdaccio-'));
  const port = await freePort();
  const config = [
    `storage: ${join(root, 'storage')}`,
    'auth:',
    '  htpasswd:',
    `    file: ${join(root, 'htpasswd')}`,
    '    max_users: 100',
    'uplinks: {}',
    'packages:',
    "  '**':",
    '    access: $all',
    '    publish: $authenticated',
    '    unpublish: $authenticated',
    `listen: 127.0.0.1:${port}`,
    'log: { type: stdout, format: json, level: error }',
    '',
  ].join('\n');
  await writeFile(join(root, 'config.yaml'), config);
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, '--config', join(root, 'config.yaml')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'production' },
    },
  );
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited: ${log}`);
    if (i > 400) throw new Error(`verdaccio did not start: ${log}`);
    try {
      const res = await fetch(`${url}-/ping`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const res = await fetch(`${url}-/user/org.couchdb.user:tester`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'tester', password: 'tester-password' }),
  });
  const { token } = (await res.json()) as { token: string };
  const host = `127.0.0.1:${port}`;
  const npmrc = `registry=${url}\n//${host}/:_authToken=${token}\n`;
  const npmrcFile = join(root, 'npmrc');
  await writeFile(npmrcFile, npmrc);
  return {
    url,
    host,
    token,
    npmrc,
    async publish(name, version, files = {}, extra = {}) {
      const dir = join(root, 'pkgs', `${name.replace('/', '+')}-${version}`);
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, 'package.json'),
        JSON.stringify({ name, version, main: 'index.js', ...extra }),
      );
      const all = {
        'index.js': `module.exports = ${JSON.stringify(`${name}@${version}`)};\n`,
        ...files,
      };
      for (const [path, text] of Object.entries(all)) {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), text);
      }
      await run(
        'npm',
        ['publish', '--userconfig', npmrcFile, '--registry', url, '--ignore-scripts'],
        {
          cwd: dir,
          env: npmEnv({ npm_config_cache: join(root, 'npm-cache') }),
        },
      );
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await rm(root, { recursive: true, force: true });
    },
  };
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
