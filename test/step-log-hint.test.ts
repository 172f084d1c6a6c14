import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, runCli } from './helpers/cli.js';
import { writeProject, type JsonError } from './helpers/e2e.js';

// A step that fails after a long usage text: the error shows the first error-looking
// line and the tail, and `airlock log` prints everything the step wrote.
describe('a failing step shows its cause', () => {
  const tmp = tempDir('e2e-stepcause');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());

  it('shows the first error line above a long usage text, and `airlock log` prints the whole output', async () => {
    const dir = writeProject(
      join(tmp.path, 'p'),
      `version: 1
name: stepcause
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
    steps:
      - "echo prepared > note.txt"
      - "echo 'main.c:3: error: expected ; before }'; i=0; while [ $i -lt 40 ]; do echo \\"  --option$i  usage line $i\\"; i=$((i+1)); done; exit 2"
    outputs: ["out/**"]
`,
    );
    const r = await runCli(['--json', '--store', store, 'build', '-C', dir]);
    expect(r.status).toBe(1);
    const { error } = JSON.parse(r.stdout) as JsonError;
    expect(error.message).toContain('--- first error lines (of 41) ---');
    expect(error.message).toContain('main.c:3: error: expected ; before }');
    expect(error.message).toContain('usage line 39');
    expect(error.message).not.toContain('usage line 10\n');
    expect(error.hint).toContain('`airlock log a --step 2`');

    const log = await runCli(['--store', store, 'log', 'a', '-C', dir]);
    expect(log.status, log.stderr).toBe(0);
    expect(log.stdout).toContain('step 2');
    expect(log.stdout).toContain('exited with status 2');
    expect(log.stdout).toContain('usage line 10\n');
    expect(log.stdout).toContain('main.c:3: error');

    const first = await runCli(['--json', '--store', store, 'log', 'a', '--step', '1', '-C', dir]);
    const report = JSON.parse(first.stdout) as { steps: { step: number; command: string }[] };
    expect(report.steps.map((s) => [s.step, s.command])).toEqual([[1, 'echo prepared > note.txt']]);

    const none = await runCli(['--store', store, 'log', 'a', '--step', '5', '-C', dir]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^error\[NO_STEP_LOGS\]: .*step 5/m);
  });
});
