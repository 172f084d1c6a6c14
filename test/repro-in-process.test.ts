import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repro, type AirlockEvent } from '../src/index.js';
import { tempDir } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';

// libfaketime (build B) sets FAKETIME_SHARED itself; everything else in the environment must match.
const YAML = (name: string): string => `version: 1
name: ${name}
sourceDateEpoch: 1700000000
targets:
  t:
    sources: ["a.txt"]
    steps: ["mkdir -p out && cp a.txt out/ && (env | grep -v ^FAKETIME_SHARED= | sort) > out/env.txt && umask > out/umask.txt"]
    outputs: ["out/**"]
`;

/** The process umask, read without changing it (process.umask() with no argument is deprecated). */
const umaskNow = (): string =>
  /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';

describe('repro in-process', () => {
  const tmp = tempDir('repro-lib');
  afterAll(() => tmp.cleanup());

  it('never changes process.env or the umask, during or after, so two can run at once', async () => {
    const env = { ...process.env };
    const mask = umaskNow();
    const seen: { env: NodeJS.ProcessEnv; mask: string; during: string }[] = [];
    const events = (e: AirlockEvent): void => {
      if (e.type === 'step' || e.type === 'output' || e.type === 'log')
        seen.push({ env: { ...process.env }, mask: umaskNow(), during: e.type });
    };
    const run = (name: string): ReturnType<typeof repro> =>
      repro({
        project: writeProject(join(tmp.path, name), YAML(name)),
        store: join(tmp.path, 'store'),
        target: 't',
        diffoscope: false,
        events,
      });
    const reports = await Promise.all([run('one'), run('two')]);
    for (const r of reports) {
      expect(r.reproducible, JSON.stringify(r.differences)).toBe(true);
      expect(r.varied).toEqual(expect.arrayContaining(['host environment variables', 'umask 077']));
    }
    // Build B's steps ran while these events were emitted.
    expect(seen.filter((s) => s.during === 'step').length).toBeGreaterThanOrEqual(4);
    for (const s of seen) {
      expect(s.env).toEqual(env);
      expect(s.mask).toBe(mask);
    }
    expect(process.env).toEqual(env);
    expect(umaskNow()).toBe(mask);
  });
});
