import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';

describe('a host tool that the sandbox PATH would find as another binary', () => {
  const tmp = tempDir('toolpath');
  const name = `airlock-probe-${process.pid}`;
  // The same name twice under /usr: the host PATH below finds sbin first,
  // the sandbox's fixed PATH (/usr/local/bin:/usr/bin:/bin) would find bin.
  const pinned = join('/usr/local/sbin', name);
  const shadow = join('/usr/local/bin', name);
  afterAll(() => {
    rmSync(pinned, { force: true });
    rmSync(shadow, { force: true });
    tmp.cleanup();
  });

  it('runs the binary whose digest is in the action key', () => {
    mkdirSync('/usr/local/sbin', { recursive: true });
    writeFileSync(pinned, '#!/bin/sh\necho pinned\n');
    writeFileSync(shadow, '#!/bin/sh\necho shadow\n');
    chmodSync(pinned, 0o755);
    chmodSync(shadow, 0o755);
    const project = join(tmp.path, 'p');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: tp',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  t:',
        '    sources: ["src/**"]',
        `    toolchain: { host: [${name}] }`,
        `    steps: ["mkdir -p out && ${name} > out/which.txt"]`,
        '    outputs: ["out/**"]',
        '',
      ].join('\n'),
    );
    const r = airlock(['--store', join(tmp.path, 'store'), 'build', '-C', project], {
      env: { PATH: `/usr/local/sbin:/usr/local/bin:/usr/bin:/bin` },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(project, 'out', 'which.txt'), 'utf8')).toBe('pinned\n');
  });
});
