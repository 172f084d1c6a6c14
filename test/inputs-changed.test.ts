import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, tempDir, runCli } from './helpers/cli.js';

describe('an input edited while its target builds', () => {
  const tmp = tempDir('inputs-changed');
  afterAll(() => tmp.cleanup());

  it('fails with INPUTS_CHANGED and caches nothing, even when the edit is undone', async () => {
    const project = join(tmp.path, 'p');
    const store = join(tmp.path, 'store');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'old\n');
    // The step polls its (read-only, live) input until it sees the edit, at most 5 s.
    const step =
      'echo started; for i in $(seq 100); do grep -q new src/a.txt && break; sleep 0.05; done; mkdir -p out; cat src/a.txt > out/o';
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: race',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  t:',
        '    sources: ["src/**"]',
        `    steps: [${JSON.stringify(step)}]`,
        '    outputs: ["out/**"]',
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [CLI, '--store', store, 'build', '-C', project], {
      env: { ...process.env, NO_COLOR: '1', CI: '1' },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let stderr = '';
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
        if (stderr.includes('[t] started')) resolve();
      });
    });
    writeFileSync(join(project, 'src', 'a.txt'), 'new\n');
    await sleep(500); // let the step see it, then undo the edit
    writeFileSync(join(project, 'src', 'a.txt'), 'old\n');
    const status = await exited;
    expect(status).toBe(1);
    expect(stderr).toMatch(/error\[INPUTS_CHANGED\]: .*src\/a\.txt/);
    // Nothing was recorded or cached for the target.
    const why = await runCli(['--json', '--store', store, 'why', '-C', project, 't']);
    expect((JSON.parse(why.stdout) as { verdict: string }).verdict).toBe('no-record');
    expect((await runCli(['--json', '--store', store, 'store', 'fsck'])).status).toBe(0);
  });
});
