import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';
import { CORPUS, EXPECT, NPM_EXPECT } from './helpers/init-corpus.js';

// The npm projects of the corpus (a registry, locks and an offline install) are in init-corpus-npm.test.ts.
describe('airlock init --build on real-shaped projects', () => {
  const tmp = tempDir('e2e-init');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());

  it('covers every project of the corpus', () => {
    expect(readdirSync(CORPUS).sort()).toEqual(
      [...Object.keys(EXPECT), ...Object.keys(NPM_EXPECT)].sort(),
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
