import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, airlock, tempDir } from './helpers/cli.js';

describe('Ctrl-C during a build', () => {
  const tmp = tempDir('interrupt');
  afterAll(() => tmp.cleanup());

  it('kills the running step, keeps nothing half-built, exits 130, and the store stays consistent', async () => {
    const project = join(tmp.path, 'p');
    const store = join(tmp.path, 'store');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: slow',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  slow:',
        '    sources: ["src/**"]',
        '    steps: ["echo started; sleep 60; mkdir -p out; echo done > out/x"]',
        '    outputs: ["out/**"]',
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [CLI, '--store', store, 'build', '-C', project], {
      env: { ...process.env, NO_COLOR: '1', CI: '1' },
    });
    let stderr = '';
    const started = new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
        if (stderr.includes('[slow] started')) resolve();
      });
    });
    await started;
    child.kill('SIGINT');
    const status = await new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    expect(status).toBe(130);
    // The step was killed, not waited for: it would sleep 60 s, past the test's timeout.
    expect(stderr).toContain('error[INTERRUPTED]');
    expect(readdirSync(join(store, 'tmp'))).toEqual([]);
    const fsck = airlock(['--json', '--store', store, 'store', 'fsck']);
    expect(fsck.status, fsck.stdout).toBe(0);
    // Nothing was cached for the interrupted target: the next build runs it again.
    const why = airlock(['--json', '--store', store, 'why', '-C', project, 'slow']);
    expect((JSON.parse(why.stdout) as { verdict: string }).verdict).toBe('no-record');
  });
});
