import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { AirlockEvent } from '../src/core/events.js';

type LogEvent = Extract<AirlockEvent, { type: 'log' }>;
import { registryResolver, runPin } from '../src/pipeline/pin.js';
import { runCli } from './helpers/cli.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PNPM = join(REPO, 'node_modules', '.bin', 'pnpm');
const work = mkdtempSync(join(tmpdir(), 'airlock-pin-locks-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
const project = (files: Record<string, string>): string => {
  const dir = join(work, `p${++n}`);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return dir;
};

/** A real package tarball in a private npm cache, so `npm ci --offline` can install it. */
function cachedTarball(): { cache: string; integrity: string } {
  const pkg = join(work, 'tiny-dep');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{"name":"tiny-dep","version":"1.2.3"}\n');
  writeFileSync(join(pkg, 'index.js'), 'module.exports = 1;\n');
  const packed = spawnSync('npm', ['pack', '--silent', '--pack-destination', work], {
    cwd: pkg,
    encoding: 'utf8',
  });
  expect(packed.status, packed.stderr).toBe(0);
  const tgz = join(work, packed.stdout.trim());
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
  const cache = join(work, 'npm-cache');
  const add = spawnSync('npm', ['cache', 'add', tgz, '--cache', cache], { encoding: 'utf8' });
  expect(add.status, add.stderr).toBe(0);
  return { cache, integrity };
}

describe('pin keeps lockfiles valid', () => {
  it('updates package-lock.json root specifiers, and `npm ci --offline` installs the pinned pair', async () => {
    const { cache, integrity } = cachedTarball();
    const dir = project({
      'package.json':
        '{\n  "name": "app",\n  "version": "1.0.0",\n  "dependencies": { "tiny-dep": "^1.2.0" }\n}\n',
      'package-lock.json': `${JSON.stringify(
        {
          name: 'app',
          version: '1.0.0',
          lockfileVersion: 3,
          requires: true,
          packages: {
            '': { name: 'app', version: '1.0.0', dependencies: { 'tiny-dep': '^1.2.0' } },
            'node_modules/tiny-dep': {
              version: '1.2.3',
              resolved: 'https://registry.npmjs.org/tiny-dep/-/tiny-dep-1.2.3.tgz',
              integrity,
            },
          },
        },
        null,
        2,
      )}\n`,
    });
    const r = await runPin({ root: dir, store: join(work, 'no-store') });
    expect(r.files.map((f) => f.path).sort()).toEqual(['package-lock.json', 'package.json']);
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dependencies?: Record<string, string> }>;
    };
    expect(lock.packages['']!.dependencies).toEqual({ 'tiny-dep': '1.2.3' });
    const ci = spawnSync(
      'npm',
      ['ci', '--offline', '--cache', cache, '--no-audit', '--no-fund', '--ignore-scripts'],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(ci.status, ci.stderr).toBe(0);
    expect(existsSync(join(dir, 'node_modules', 'tiny-dep', 'index.js'))).toBe(true);
  });

  it('updates pnpm-lock.yaml importer specifiers, and `pnpm install --frozen-lockfile` accepts the pinned pair', async () => {
    expect(existsSync(PNPM), 'pnpm is a devDependency: run npm ci').toBe(true);
    const dir = project({
      'package.json': '{\n  "name": "mono",\n  "private": true\n}\n',
      'pnpm-workspace.yaml': "packages:\n  - 'packages/*'\n",
      'packages/web/package.json':
        '{\n  "name": "web",\n  "version": "1.0.0",\n  "dependencies": { "ms": "^2.1.0" }\n}\n',
      'pnpm-lock.yaml': `lockfileVersion: '9.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .: {}

  packages/web:
    dependencies:
      ms:
        specifier: ^2.1.0
        version: 2.1.3

packages:

  ms@2.1.3:
    resolution: {integrity: sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==}

snapshots:

  ms@2.1.3: {}
`,
    });
    const r = await runPin({ root: dir, store: join(work, 'no-store') });
    expect(r.files.map((f) => f.path).sort()).toEqual([
      'packages/web/package.json',
      'pnpm-lock.yaml',
    ]);
    expect(readFileSync(join(dir, 'pnpm-lock.yaml'), 'utf8')).toContain('specifier: 2.1.3\n');
    const home = join(work, 'pnpm-home');
    const frozen = spawnSync(
      PNPM,
      [
        'install',
        '--frozen-lockfile',
        '--lockfile-only',
        '--offline',
        '--config.minimum-release-age=0',
      ],
      {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, 'cache'), CI: '1' },
      },
    );
    expect(frozen.status, `${frozen.stdout}\n${frozen.stderr}`).toBe(0);
  });

  it('refuses to pin next to a yarn.lock, saying why, and leaves both files alone', async () => {
    const pkg = '{\n  "dependencies": { "ms": "^2.1.0" }\n}\n';
    const yarnLock =
      '# yarn lockfile v1\n\n\nms@^2.1.0:\n  version "2.1.3"\n  resolved "https://registry.yarnpkg.com/ms/-/ms-2.1.3.tgz#abc"\n  integrity sha512-x\n';
    const dir = project({ 'package.json': pkg, 'yarn.lock': yarnLock });
    const r = await runPin({ root: dir, store: join(work, 'no-store') });
    expect(r.files).toEqual([]);
    expect(r.refused).toEqual([
      { path: 'package.json', reason: expect.stringContaining('yarn install --frozen-lockfile') },
    ]);
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toBe(pkg);
    const cli = await runCli(['--store', join(work, 'no-store'), 'pin', dir, '--offline']);
    expect(cli.status).toBe(1);
    expect(cli.stdout).toContain('not pinned: package.json:');
  });

  it('says "registry unreachable" once per registry, without retries, and exits non-zero when nothing resolved', async () => {
    const dir = project({
      Dockerfile: 'FROM registry.invalid/team/a:1.0\nFROM registry.invalid/team/b:2.0\n',
    });
    const events: LogEvent[] = [];
    const r = await runPin({
      root: dir,
      store: join(work, 'no-store'),
      resolver: registryResolver({
        events: (e) => {
          if (e.type === 'log') events.push(e);
        },
        sleep: () => Promise.reject(new Error('a DNS failure must not be retried')),
      }),
    });
    expect(r.unresolved).toEqual([
      {
        path: 'Dockerfile',
        ref: 'registry.invalid/team/a:1.0',
        reason: 'registry unreachable (registry.invalid)',
      },
      {
        path: 'Dockerfile',
        ref: 'registry.invalid/team/b:2.0',
        reason: 'registry unreachable (registry.invalid)',
      },
    ]);
    expect(events.filter((e) => e.message.startsWith('registry unreachable'))).toHaveLength(1);
    expect(events.some((e) => /retry/.test(e.message) && !e.message.includes('not tried'))).toBe(
      false,
    );
    const cli = await runCli(['--store', join(work, 'no-store'), 'pin', dir]);
    expect(cli.status).toBe(1);
    expect(cli.stdout).toContain('registry unreachable');
    expect(cli.stdout).not.toContain('not found');
  });
});
