import { execFile } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { CORPUS, NPM_EXPECT } from './helpers/init-corpus.js';
import { npmEnv, sharedVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

const exec = promisify(execFile);

describe('airlock init --build on npm projects with a package-lock.json', () => {
  const tmp = tempDir('e2e-init-npm');
  const store = join(tmp.path, 'store');
  let reg: TestNpmRegistry;

  beforeAll(async () => {
    reg = await sharedVerdaccio();
    // The real TypeScript compiler (this repository's locked copy), published as a package.
    await reg.publishDir(resolve('node_modules/typescript'));
    writeFileSync(join(tmp.path, 'npmrc'), reg.npmrc);
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
      const plain = await runCli(['init', dir]);
      expect(plain.status, plain.stderr).toBe(0);
      expect(plain.stdout).toContain(
        `next: airlock lock -C ${dir} && airlock fetch -C ${dir} && airlock build -C ${dir}`,
      );

      const r = await runCli(['--store', store, 'init', '--force', '--build', dir], {
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
