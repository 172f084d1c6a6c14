import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';

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

describe('airlock init --build on real-shaped projects', () => {
  const tmp = tempDir('e2e-init');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());

  it('covers every project of the corpus', () => {
    expect(readdirSync(CORPUS).sort()).toEqual(Object.keys(EXPECT).sort());
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
