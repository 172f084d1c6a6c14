import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { CORPUS, EXPECT, NPM_EXPECT, PNPM_EXPECT } from './helpers/init-corpus.js';
import { npmEnv, sharedVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

const exec = promisify(execFile);

// The npm projects of the corpus (a registry, locks and an offline install) are in init-corpus-npm.test.ts;
// the pnpm workspace is below.
describe('airlock init --build on real-shaped projects', () => {
  const tmp = tempDir('e2e-init');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());

  it('covers every project of the corpus', () => {
    expect(readdirSync(CORPUS).sort()).toEqual(
      [...Object.keys(EXPECT), ...Object.keys(NPM_EXPECT), ...Object.keys(PNPM_EXPECT)].sort(),
    );
  });

  for (const [name, patterns] of Object.entries(EXPECT)) {
    it(`${name}: init writes a config that builds with no edit`, async () => {
      const dir = join(tmp.path, name);
      cpSync(join(CORPUS, name), dir, { recursive: true });
      // The tools the sandbox runs come from the system PATH (a version manager's
      // shims outside /usr are not what a fresh machine has).
      const r = await runCli(['--store', store, 'init', '--build', dir], {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      });
      const yaml = readFileSync(join(dir, 'airlock.yaml'), 'utf8');
      expect(r.status, `${r.stderr}\n--- airlock.yaml ---\n${yaml}`).toBe(0);
      expect(r.stdout).toMatch(/\nbuilt \S+ \(sha256:[0-9a-f]{64}\)/);
      for (const p of patterns) expect(yaml).toMatch(p);
    });
  }
});

describe('airlock init --build on a pnpm workspace with a pnpm-lock.yaml', () => {
  const tmp = tempDir('e2e-init-pnpm');
  const store = join(tmp.path, 'store');
  let reg: TestNpmRegistry;

  beforeAll(async () => {
    reg = await sharedVerdaccio();
    await reg.publish('tiny-views', '1.0.0', {
      'index.js':
        'exports.render = (t, v) =>\n' +
        '  Object.entries(v).reduce((s, [k, x]) => s.split(`{{${k}}}`).join(String(x)), t);\n',
    });
    // pnpm on PATH as a user's global install puts it (here the pinned devDependency).
    mkdirSync(join(tmp.path, 'bin'));
    symlinkSync(resolve('node_modules', 'pnpm', 'pnpm'), join(tmp.path, 'bin', 'pnpm'));
  }, 120_000);

  afterAll(async () => {
    await reg?.stop();
    tmp.cleanup();
  });

  for (const [name, patterns] of Object.entries(PNPM_EXPECT)) {
    it(`${name}: init writes the pnpm lockfile key, locks, fetches and builds with no edit`, async () => {
      const dir = join(tmp.path, name);
      cpSync(join(CORPUS, name), dir, { recursive: true });
      writeFileSync(join(dir, '.npmrc'), `registry=${reg.url}\n`);
      const home = join(tmp.path, 'pnpm-home');
      await exec(
        resolve('node_modules', 'pnpm', 'pnpm'),
        ['install', '--lockfile-only', '--config.minimum-release-age=0'],
        { cwd: dir, env: npmEnv({ HOME: home, XDG_CACHE_HOME: join(home, 'cache'), CI: '1' }) },
      );
      expect(readFileSync(join(dir, 'pnpm-lock.yaml'), 'utf8')).toMatch(/^lockfileVersion: '9\.0'/);

      const r = await runCli(['--store', store, 'init', '--build', dir], {
        env: { PATH: `${join(tmp.path, 'bin')}:/usr/local/bin:/usr/bin:/bin` },
      });
      const yaml = readFileSync(join(dir, 'airlock.yaml'), 'utf8');
      expect(r.status, `${r.stderr}\n--- airlock.yaml ---\n${yaml}`).toBe(0);
      expect(r.stdout).toMatch(/\nbuilt \S+ \(sha256:[0-9a-f]{64}\)/);
      for (const p of patterns) expect(yaml).toMatch(p);
      expect(readFileSync(join(dir, 'airlock.lock'), 'utf8')).toContain(
        `"resolved":"${reg.url}tiny-views/-/tiny-views-1.0.0.tgz"`,
      );
      // The packages came from the sandbox's offline install, never the tree.
      expect(existsSync(join(dir, 'node_modules'))).toBe(false);
      expect(existsSync(join(dir, 'packages', 'greet', 'node_modules'))).toBe(false);
    });
  }
});
