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
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';
import { npmEnv, startVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

const exec = promisify(execFile);

const CORPUS = fileURLToPath(new URL('./fixtures/init/', import.meta.url));

/** What each project's generated config must say (read from the project's own files, not guessed). */
const EXPECT: Record<string, RegExp[]> = {
  'cli-bin': [
    /sources: \["package\.json", "lib\/\*\*", "bin\/\*\*", "test\/\*\*"\]/,
    /- "npm test"/,
    /outputs: \["out\/\*\.tgz"\]/,
  ],
  'js-lib-build': [/"\.npmrc"/, /- "npm run build"/, /"src\/\*\*", "scripts\/\*\*"/],
  'c-make': [
    /sources: \["Makefile", "\*\*\/\*\.c", "\*\*\/\*\.h"\]/,
    /- "make test"/,
    /outputs: \["hello"\]/,
  ],
  'c-make-builddir': [/outputs: \["build\/\*\*"\]/],
  'python-src': [
    /PYTHONPATH=src python3 -m unittest discover -s tests -t \./,
    /outputs: \["out\/textstats\.zip"\]/,
  ],
  'python-flat': [
    /sources: \["pyproject\.toml", "wordcount\/\*\*\/\*\.py", "test\/\*\*\/\*\.py"\]/,
  ],
};

/**
 * npm projects: their package-lock.json is written against the test's
 * registry (its port changes each run), and the build installs it offline.
 */
const NPM_EXPECT: Record<string, RegExp[]> = {
  'ts-lib': [
    /npm: \{ lockfile: package-lock\.json \}/,
    /sources: \["package\.json", "package-lock\.json", "tsconfig\.json", "src\/\*\*", "test\/\*\*"\]/,
    /- "npm run build"/,
    /outputs: \["build\/\*\*"\]/,
  ],
  'express-views': [
    /npm: \{ lockfile: package-lock\.json \}/,
    /"server\.js", "test\/\*\*", "views\/\*\*", "public\/\*\*"/,
    /outputs: \["out\/\*\.tgz"\]/,
  ],
};

/** pnpm workspaces: pnpm-lock.yaml written by pnpm against the test's registry, installed offline by pnpm. */
const PNPM_EXPECT: Record<string, RegExp[]> = {
  'pnpm-workspace': [
    /npm: \{ lockfile: pnpm-lock\.yaml \}/,
    /sources: \["package\.json", "pnpm-lock\.yaml", "pnpm-workspace\.yaml", "\.npmrc", "test\/\*\*", "packages\/\*\/\*\*"\]/,
    /exclude: \["\*\*\/node_modules\/\*\*"\]/,
    /toolchain: \{ host: \[node, pnpm\] \}/,
    /env: \{ pnpm_config_verify_deps_before_run: "false" \}/,
    /- "pnpm run build"/,
    /- "pnpm test"/,
  ],
};

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
    it(`${name}: init writes a config that builds with no edit`, () => {
      const dir = join(tmp.path, name);
      cpSync(join(CORPUS, name), dir, { recursive: true });
      // The tools the sandbox runs come from the system PATH (a version manager's
      // shims outside /usr are not what a fresh machine has).
      const r = airlock(['--store', store, 'init', '--build', dir], {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      });
      const yaml = readFileSync(join(dir, 'airlock.yaml'), 'utf8');
      expect(r.status, `${r.stderr}\n--- airlock.yaml ---\n${yaml}`).toBe(0);
      expect(r.stdout).toMatch(/\nbuilt \S+ \(sha256:[0-9a-f]{64}\)/);
      for (const p of patterns) expect(yaml).toMatch(p);
    });
  }
});

describe('airlock init --build on npm projects with a package-lock.json', () => {
  const tmp = tempDir('e2e-init-npm');
  const store = join(tmp.path, 'store');
  let reg: TestNpmRegistry;

  beforeAll(async () => {
    reg = await startVerdaccio();
    // The real TypeScript compiler (this repository's locked copy), published as a package.
    const { stdout } = await exec(
      'npm',
      ['pack', resolve('node_modules/typescript'), '--pack-destination', tmp.path, '--json'],
      { env: npmEnv({ npm_config_cache: join(tmp.path, 'npm-cache') }) },
    );
    const tgz = join(tmp.path, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
    writeFileSync(join(tmp.path, 'npmrc'), reg.npmrc);
    await exec(
      'npm',
      ['publish', tgz, '--userconfig', join(tmp.path, 'npmrc'), '--ignore-scripts'],
      { env: npmEnv({ npm_config_cache: join(tmp.path, 'npm-cache') }) },
    );
    await reg.publish(
      'tiny-views',
      '1.0.0',
      {
        'index.js':
          'exports.render = (t, v) =>\n' +
          '  Object.entries(v).reduce((s, [k, x]) => s.split(`{{${k}}}`).join(String(x)), t);\n',
      },
      {},
    );
  }, 120_000);

  afterAll(async () => {
    await reg?.stop();
    tmp.cleanup();
  });

  for (const [name, patterns] of Object.entries(NPM_EXPECT)) {
    it(`${name}: init writes the npm lockfile key, locks, fetches and builds with no edit`, async () => {
      const dir = join(tmp.path, name);
      cpSync(join(CORPUS, name), dir, { recursive: true });
      await exec(
        'npm',
        [
          'install',
          '--package-lock-only',
          '--ignore-scripts',
          '--no-audit',
          '--no-fund',
          '--userconfig',
          join(tmp.path, 'npmrc'),
        ],
        { cwd: dir, env: npmEnv({ npm_config_cache: join(tmp.path, 'npm-cache') }) },
      );
      expect(existsSync(join(dir, 'node_modules'))).toBe(false);

      // Without --build: the printed next command locks and fetches first.
      const plain = airlock(['init', dir]);
      expect(plain.status, plain.stderr).toBe(0);
      expect(plain.stdout).toContain(
        `next: airlock lock -C ${dir} && airlock fetch -C ${dir} && airlock build -C ${dir}`,
      );

      const r = airlock(['--store', store, 'init', '--force', '--build', dir], {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      });
      const yaml = readFileSync(join(dir, 'airlock.yaml'), 'utf8');
      expect(r.status, `${r.stderr}\n--- airlock.yaml ---\n${yaml}`).toBe(0);
      expect(r.stdout).toMatch(/\nbuilt \S+ \(sha256:[0-9a-f]{64}\)/);
      expect(yaml).not.toMatch(/npm ci/);
      for (const p of patterns) expect(yaml).toMatch(p);
      expect(existsSync(join(dir, 'airlock.lock'))).toBe(true);
      // The packages came from the sandbox's offline install, never the tree.
      expect(existsSync(join(dir, 'node_modules'))).toBe(false);
    });
  }
});

describe('airlock init --build on a pnpm workspace with a pnpm-lock.yaml', () => {
  const tmp = tempDir('e2e-init-pnpm');
  const store = join(tmp.path, 'store');
  let reg: TestNpmRegistry;

  beforeAll(async () => {
    reg = await startVerdaccio();
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

      const r = airlock(['--store', store, 'init', '--build', dir], {
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
