// The core of `npm run demo` (scripts/deploy-demo.ts), run in-process with its
// real servers: `airlock ship` of the bundled example's server to two regions,
// then a deliberately broken release caught by the gates and rolled back.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { LABELS } from '../src/deploy/index.js';
import { SHIP_STAGES } from '../src/pipeline/ship.js';
import { DeployDemo, demoProblems, type DemoResult } from '../scripts/deploy-demo.js';

describe('the deploy demo (npm run demo)', () => {
  const lines: string[] = [];
  // Prometheus scrapes every 250 ms (the demo's default is 1 s), so a new version's
  // first step has data soon after discovery; shorter steps than the demo's 2.5 s.
  const demo = new DeployDemo({
    log: (l) => lines.push(l),
    // Its own name: status counts every container of the environment in a region, and
    // another checkout's suite may run this demo on the same podman at the same time.
    environment: `demotest-${process.pid}`,
    hold: '2s',
    scrapeMs: 250,
  });
  afterAll(() => demo.stop());

  it('promotes release 1 in both regions, rolls the broken release 2 back at the first step naming the gate, and removes everything it started', async () => {
    let result: DemoResult;
    let dir: string;
    try {
      await demo.start();
      dir = demo.workDir!;
      result = await demo.run();
    } finally {
      await demo.stop();
    }
    const { first, second, status, users } = result;
    // Release 1: every ship stage passed, promoted in eu then us.
    expect(first.failed, lines.join('\n')).toBeUndefined();
    expect(first.stages.map((s) => s.stage)).toEqual([...SHIP_STAGES]);
    expect(first.deploy?.outcome).toBe('promoted');
    expect(first.deploy?.rollout.promoted).toEqual(['eu', 'us']);

    // Release 2: built, reproducible and signed, then stopped at deploy by the error-rate gate at 5% in eu.
    expect(second.failed, lines.join('\n')).toBe('deploy');
    expect(second.stages.filter((s) => !s.ok).map((s) => s.stage)).toEqual(['deploy']);
    expect(second.artifact).not.toBe(first.artifact);
    expect(second.deploy?.outcome).toBe('rolled-back');
    expect(second.deploy?.rollout.promoted).toEqual([]);
    const failing = second.deploy!.rollout.samples.find((x) => x.verdict !== 'pass')!;
    expect(failing).toMatchObject({ gate: 'error-rate', verdict: 'fail', region: 'eu', weight: 5 });
    expect(failing.value).toBeGreaterThan(0.05);
    expect(second.deploy!.rollout.samples.every((x) => x.region === 'eu')).toBe(true);
    expect(lines.some((l) => /\[eu\] ROLLED BACK to .* gate error-rate/.test(l))).toBe(true);

    // Users: no request failed outright; us never saw release 2.
    expect(users.eu.errors).toBe(0);
    expect(users.us.errors).toBe(0);
    expect(Object.keys(users.us.byRelease)).toEqual(['1 200']);
    expect(users.eu.byRelease['1 200']).toBeGreaterThan(0);

    // Afterwards every region runs the verified release 1, with no drift.
    expect(status.drift).toEqual([]);
    expect(status.regions.map((g) => g.verified)).toEqual([first.artifact, first.artifact]);
    expect(demoProblems(result)).toEqual([]);
    // ...and the demo's own check would have said so had release 2 gone through.
    const promoted: DemoResult['second'] = { ...first, artifact: second.artifact! };
    expect(demoProblems({ ...result, second: promoted })).toContain(
      'release 2 was not rolled back',
    );

    // Nothing is left: no container of this environment, no temp dir.
    const left = execFileSync(
      'podman',
      [
        'ps',
        '-a',
        '--filter',
        `label=${LABELS.environment}=${demo.environment}`,
        '--format',
        '{{.Names}}',
      ],
      { encoding: 'utf8' },
    ).trim();
    expect(left).toBe('');
    expect(existsSync(dir!)).toBe(false);
  }, 240_000);
});
