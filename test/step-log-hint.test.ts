import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { airlock, tempDir } from './helpers/cli.js';
import { writeProject, type JsonError } from './helpers/e2e.js';

// A step that explains its failure on stdout (make, tsc, most test runners):
// the STEP_FAILED hint must point at log blobs that hold stdout too.
describe('STEP_FAILED', () => {
  const tmp = tempDir('e2e-steplog');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());

  it('names log blobs in its hint that hold everything the step printed', () => {
    const dir = writeProject(
      join(tmp.path, 'p'),
      `version: 1
name: steplog
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
    steps: ["echo 'reason on stdout'; echo 'note on stderr' >&2; exit 5"]
    outputs: ["out/**"]
`,
    );
    const r = airlock(['--json', '--store', store, 'build', '-C', dir]);
    expect(r.status).toBe(1);
    const { error } = JSON.parse(r.stdout) as JsonError;
    expect(error.code).toBe('STEP_FAILED');
    const named = [...(error.hint ?? '').matchAll(/sha256:([0-9a-f]{64})/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    const logs = named
      .map((hex) => readFileSync(join(store, 'blobs/sha256', hex), 'utf8'))
      .join('\n');
    expect(logs).toContain('note on stderr');
    expect(logs).toContain('reason on stdout');
  });
});
