import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';

describe('two targets whose output globs overlap (dist/** and dist/b/**)', () => {
  const tmp = tempDir('overlap');
  afterAll(() => tmp.cleanup());
  const project = join(tmp.path, 'p');
  const store = join(tmp.path, 'store');

  it('keep each other’s outputs across cached builds', () => {
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: overlap',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  a:',
        '    sources: ["src/**"]',
        '    steps: ["mkdir -p dist && echo a > dist/a"]',
        '    outputs: ["dist/**"]',
        '  b:',
        '    sources: ["src/**"]',
        '    steps: ["mkdir -p dist/b && echo x > dist/b/x"]',
        '    outputs: ["dist/b/**"]',
        '',
      ].join('\n'),
    );
    for (let i = 0; i < 3; i++) {
      const r = airlock(['--store', store, 'build', '-C', project]);
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(join(project, 'dist', 'a'), 'utf8')).toBe('a\n');
      expect(readFileSync(join(project, 'dist', 'b', 'x'), 'utf8')).toBe('x\n');
    }
    expect(airlock(['--store', store, 'build', '-C', project, 'a']).status).toBe(0);
    expect(existsSync(join(project, 'dist', 'b', 'x'))).toBe(true);
  });
});
