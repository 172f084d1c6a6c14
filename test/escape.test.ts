import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, runCli } from './helpers/cli.js';

describe('a project directory replaced by a symlink that leads outside', () => {
  const tmp = tempDir('escape');
  afterAll(() => tmp.cleanup());
  const project = join(tmp.path, 'p');
  const outside = join(tmp.path, 'outside');
  const store = join(tmp.path, 'store');

  it('is refused when restoring outputs, and nothing is written outside the project', async () => {
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
    expect((await runCli(['--store', store, 'build', '-C', project])).status).toBe(0);
    rmSync(join(project, 'out'), { recursive: true });
    symlinkSync(outside, join(project, 'out'));
    const r = await runCli(['--store', store, 'build', '-C', project]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[PATH_ESCAPE]');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('is refused for sources too', async () => {
    rmSync(join(project, 'out'));
    rmSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    symlinkSync(outside, join(project, 'src'));
    const r = await runCli(['--store', store, 'build', '-C', project]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[PATH_ESCAPE]');
  });
});

describe('an excluded symlink beside declared sources', () => {
  const tmp = tempDir('excluded-link');
  afterAll(() => tmp.cleanup());

  it('is not visible in the sandbox', async () => {
    const project = join(tmp.path, 'p');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
    symlinkSync('../elsewhere', join(project, 'src', 'link'));
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: links',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  t:',
        '    sources: ["src/**"]',
        '    exclude: ["src/link"]',
        '    steps: ["mkdir -p out && ls -A src > out/listing.txt"]',
        '    outputs: ["out/**"]',
        '',
      ].join('\n'),
    );
    const r = await runCli(['--store', join(tmp.path, 'store'), 'build', '-C', project]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(project, 'out', 'listing.txt'), 'utf8')).toBe('a.txt\n');
  });
});
