import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';

describe('a project directory replaced by a symlink that leads outside', () => {
  const tmp = tempDir('escape');
  afterAll(() => tmp.cleanup());
  const project = join(tmp.path, 'p');
  const outside = join(tmp.path, 'outside');
  const store = join(tmp.path, 'store');

  it('is refused when restoring outputs, and nothing is written outside the project', () => {
    mkdirSync(join(project, 'src'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: esc',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  t:',
        '    sources: ["src/**"]',
        '    steps: ["mkdir -p out/sub && cp src/a.txt out/sub/a.txt"]',
        '    outputs: ["out/sub/**"]',
        '',
      ].join('\n'),
    );
    expect(airlock(['--store', store, 'build', '-C', project]).status).toBe(0);
    rmSync(join(project, 'out'), { recursive: true });
    symlinkSync(outside, join(project, 'out'));
    const r = airlock(['--store', store, 'build', '-C', project]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[PATH_ESCAPE]');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('is refused for sources too', () => {
    rmSync(join(project, 'out'));
    rmSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    symlinkSync(outside, join(project, 'src'));
    const r = airlock(['--store', store, 'build', '-C', project]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[PATH_ESCAPE]');
  });
});
