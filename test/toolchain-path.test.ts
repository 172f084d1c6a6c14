import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBuild } from '../src/pipeline/build.js';
import { runCli, tempDir } from './helpers/cli.js';

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

  it('runs the binary whose digest is in the action key', async () => {
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
    const r = await runCli(['--store', join(tmp.path, 'store'), 'build', '-C', project], {
      env: { PATH: `/usr/local/sbin:/usr/local/bin:/usr/bin:/bin` },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(project, 'out', 'which.txt'), 'utf8')).toBe('pinned\n');
  });

  it("finds each run's host tools on that run's own PATH, two runs in one process", async () => {
    // The same tool name in two directories, neither on the worker's own PATH.
    const dirs = ['one', 'two'].map((which) => {
      const bin = join(tmp.path, `bin-${which}`);
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(bin, name), `#!/bin/sh\necho ${which}\n`);
      chmodSync(join(bin, name), 0o755);
      return { which, bin };
    });
    const project = join(tmp.path, 'p2');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: tp2',
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
    const keys: string[] = [];
    for (const { which, bin } of dirs) {
      const report = await runBuild({
        project,
        store: join(tmp.path, 'store2'),
        targets: [],
        env: { PATH: `${bin}:/usr/bin:/bin` },
        events: () => undefined,
      });
      keys.push(report.targets[0]!.actionKey);
      expect(readFileSync(join(project, 'out', 'which.txt'), 'utf8')).toBe(`${which}\n`);
    }
    // Another binary, another action key: the second run did not reuse the first's result.
    expect(keys[0]).not.toBe(keys[1]);
  });
});
