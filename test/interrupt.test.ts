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

describe('kill -9 during a build', () => {
  const tmp = tempDir('kill9');
  afterAll(() => tmp.cleanup());

  it('leaves a work directory that names its dead owner, and the next build removes it at once', async () => {
    const project = join(tmp.path, 'p');
    const store = join(tmp.path, 'store');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
    const yaml = (step: string): string =>
      [
        'version: 1',
        'name: killed',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  t:',
        '    sources: ["src/**"]',
        `    steps: [${JSON.stringify(step)}]`,
        '    outputs: ["out/**"]',
        '',
      ].join('\n');
    writeFileSync(join(project, 'airlock.yaml'), yaml('echo started; sleep 60'));
    const child = spawn(process.execPath, [CLI, '--store', store, 'build', '-C', project], {
      env: { ...process.env, NO_COLOR: '1', CI: '1' },
    });
    let stderr = '';
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
        if (stderr.includes('[t] started')) resolve();
      });
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const left = readdirSync(join(store, 'tmp')).filter((n) => n.startsWith('work-'));
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^work-${child.pid!}\\.\\d+\\.\\d+-[A-Za-z0-9]{6}$`));

    writeFileSync(join(project, 'airlock.yaml'), yaml('mkdir -p out && cp src/a.txt out/'));
    const r = airlock(['--store', store, 'build', '-C', project]);
    expect(r.status, r.stderr).toBe(0);
    // Nor the scratch directory of the sandbox's overlays, named after the same owner.
    expect(
      readdirSync(join(store, 'tmp')).filter((n) => n.startsWith('work-') || n.includes('overlay')),
    ).toEqual([]);
  });
});
