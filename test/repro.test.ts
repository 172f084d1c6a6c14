import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDemo, tempDir, runCli } from './helpers/cli.js';
import { copyFixture, fsck } from './helpers/e2e.js';

interface ReproJson {
  ok: boolean;
  target: string;
  reproducible: boolean;
  a: { outputTree: string; layer: string };
  b: { outputTree: string; layer: string };
  varied: string[];
  differences: { path: string; a?: string; b?: string; diff?: string }[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

describe('airlock repro', () => {
  const tmp = tempDir('e2e-repro');
  const store = join(tmp.path, 'store');
  const demo = join(tmp.path, 'projects', 'demo');
  const fixture = join(tmp.path, 'projects', 'repro');

  /** Runs `repro` with --json and returns the exit status and the parsed report. */
  const reproJson = async (
    project: string,
    target: string,
  ): Promise<{ status: number; report: ReproJson }> => {
    const r = await runCli(['--json', '--store', store, 'repro', target, '-C', project]);
    expect(r.stdout.trim().startsWith('{'), r.stderr).toBe(true);
    return { status: r.status, report: JSON.parse(r.stdout) as ReproJson };
  };

  beforeAll(() => {
    mkdirSync(join(tmp.path, 'projects'));
    copyDemo(demo);
    copyFixture('repro', fixture);
  });
  afterAll(() => tmp.cleanup());

  describe('on the demo targets built from their inputs only', () => {
    for (const target of ['lib', 'server', 'hello-c']) {
      it(`proves "${target}" reproducible with exit status 0`, async () => {
        const r = await runCli(['--store', store, 'repro', target, '-C', demo, '--no-diffoscope']);
        expect(r.status, r.stderr + r.stdout).toBe(0);
        expect(r.stdout).toMatch(
          new RegExp(
            `^${target}: reproducible — both builds gave output tree sha256:[0-9a-f]{64}`,
            'm',
          ),
        );
        expect(r.stdout).not.toContain('NOT reproducible');
      });
    }

    it('builds the dependency first: "server" sees lib\'s output and both builds agree', async () => {
      const { status, report } = await reproJson(demo, 'server');
      expect(status).toBe(0);
      expect(report).toMatchObject({ ok: true, target: 'server', reproducible: true });
      expect(report.a.outputTree).toMatch(DIGEST);
      expect(report.b).toEqual(report.a);
      expect(report.differences).toEqual([]);
    });
  });

  describe('on the demo "clock" target, which writes the wall clock and a random number', () => {
    it('fails with exit status 1, names dist/clock/stamp.txt and shows both differing lines', async () => {
      const r = await runCli(['--store', store, 'repro', 'clock', '-C', demo, '--no-diffoscope']);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toContain('clock: NOT reproducible — 1 file(s) differ:');
      expect(r.stdout).toMatch(/^ {2}dist\/clock\/stamp\.txt$/m);
      expect(r.stdout).toMatch(/^ {4}build A: sha256:[0-9a-f]{64}$/m);
      expect(r.stdout).toMatch(/^ {4}build B: sha256:[0-9a-f]{64}$/m);
      const line = (side: '-' | '+', n: number): string => {
        const m = new RegExp(`^ {4}\\${side}${n}: (.*)$`, 'm').exec(r.stdout);
        expect(m, `diff line ${side}${n} in:\n${r.stdout}`).not.toBeNull();
        return m![1]!;
      };
      // Line 1 is the wall clock, line 2 the nonce: both differ, and both are shown.
      expect(line('-', 1)).toMatch(/^built at \d{4}-/);
      expect(line('+', 1)).toMatch(/^built at \d{4}-/);
      expect(line('-', 1)).not.toBe(line('+', 1));
      expect(line('-', 2)).toMatch(/^nonce 0\.\d+/);
      expect(line('+', 2)).toMatch(/^nonce 0\.\d+/);
      expect(line('-', 2)).not.toBe(line('+', 2));
      // Build B ran under libfaketime +3 days: its stamp is days later than A's.
      const stamp = (l: string): number => Date.parse(l.replace('built at ', ''));
      expect(stamp(line('+', 1)) - stamp(line('-', 1))).toBeGreaterThan(2.5 * 86_400_000);
      expect(r.stdout).toMatch(/^fix: .*SOURCE_DATE_EPOCH/m);
    });

    it('reports with --json what was varied, including the clock shift and the host path', async () => {
      const { status, report } = await reproJson(demo, 'clock');
      expect(status).toBe(1);
      expect(report).toMatchObject({ ok: false, target: 'clock', reproducible: false });
      expect(report.a.outputTree).not.toBe(report.b.outputTree);
      expect(report.varied).toContainEqual(expect.stringMatching(/clock shifted by \+3 days/));
      const hostPath = report.varied.find((v) => v.startsWith('host path of the sources'));
      expect(hostPath).toMatch(/^host path of the sources \(\/.+\)$/);
      expect(hostPath).not.toContain(demo);
      expect(report.varied).toEqual(
        expect.arrayContaining(['host environment variables', 'reversed staging order']),
      );
      expect(report.differences).toEqual([
        expect.objectContaining({
          path: 'dist/clock/stamp.txt',
          a: expect.stringMatching(DIGEST),
          b: expect.stringMatching(DIGEST),
          diff: expect.stringContaining('built at'),
        }),
      ]);
    });
  });

  describe('on steps that could observe the host', () => {
    it('is reproducible for a step writing its working directory: /src, never the host path', async () => {
      const { status, report } = await reproJson(fixture, 'where');
      expect(status, JSON.stringify(report.differences)).toBe(0);
      expect(report.reproducible).toBe(true);
      // A normal build shows what was written: the sandbox path only.
      const b = await runCli(['--store', store, 'build', '-C', fixture, 'where']);
      expect(b.status, b.stderr).toBe(0);
      expect(readFileSync(join(fixture, 'out/where/pwd.txt'), 'utf8')).toBe(
        '/src\n/src\n/src/data/kiwi.txt\n',
      );
    });

    it('is reproducible for a step listing a directory in readdir order: staging order does not leak', async () => {
      const { status, report } = await reproJson(fixture, 'listing');
      expect(status, JSON.stringify(report.differences)).toBe(0);
      expect(report.reproducible).toBe(true);
      expect(report.varied).toContain('reversed staging order');
      const b = await runCli(['--store', store, 'build', '-C', fixture, 'listing']);
      expect(b.status, b.stderr).toBe(0);
      const listed = readFileSync(join(fixture, 'out/listing/ls.txt'), 'utf8').trim().split('\n');
      // Only the declared files are visible (data/notes.md is not), so they were staged one by one.
      expect([...listed].sort()).toEqual(
        [
          'apple',
          'banana',
          'cherry',
          'date',
          'fig',
          'grape',
          'hazel',
          'iris',
          'kiwi',
          'lime',
          'mango',
          'zebra',
        ].map((n) => `${n}.txt`),
      );
    });
  });

  describe('on steps that no sandbox can make reproducible', () => {
    it('catches a step writing $RANDOM', async () => {
      const { status, report } = await reproJson(fixture, 'random');
      expect(status).toBe(1);
      expect(report.reproducible).toBe(false);
      expect(report.differences.map((d) => d.path)).toEqual(['out/random/r.txt']);
    });

    it('catches a step writing the output of date', async () => {
      const { status, report } = await reproJson(fixture, 'date');
      expect(status).toBe(1);
      expect(report.reproducible).toBe(false);
      expect(report.differences.map((d) => d.path)).toEqual(['out/date/now.txt']);
      expect(report.differences[0]!.diff).toMatch(/^-1: \d{4}-\d\d-\d\dT/m);
    });
  });

  it('leaves the store consistent after every repro', () => {
    const { status, report } = fsck(store);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(status).toBe(0);
    expect(report.blobsChecked).toBeGreaterThan(0);
  });
});
