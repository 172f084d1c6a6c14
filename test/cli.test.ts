import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { program } from '../src/cli/main.js';
import { CLI, airlock, tempDir, runCli } from './helpers/cli.js';
import { ANSI, writeProject, type JsonError } from './helpers/e2e.js';

/** Every command of the tree with its path below the root, e.g. ['store', 'fsck']. */
function commandPaths(cmd: Command, prefix: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((sub) => {
    const path = [...prefix, sub.name()];
    return [{ path, cmd: sub }, ...commandPaths(sub, path)];
  });
}

/** An SGR (colour/style) escape: what NO_COLOR and --no-color forbid even on a terminal. */
// eslint-disable-next-line no-control-regex -- matching the ESC byte is the point
const SGR = /\x1b\[[0-9;]*m/;

const PROJECT = `version: 1
name: clitest
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
    steps: ["mkdir -p out && cp a.txt out/ && echo made a"]
    outputs: ["out/**"]
  broken:
    sources: ["a.txt"]
    steps: ["echo about to fail; exit 4"]
    outputs: ["nothing/**"]
`;

describe('the airlock command line', () => {
  const tmp = tempDir('e2e-cli');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'project');
  beforeAll(() => {
    writeProject(project, PROJECT);
  });
  afterAll(() => tmp.cleanup());

  describe('--help', () => {
    it('on the root exits 0 and lists the global flags and every command', () => {
      const r = airlock(['--help']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^Usage: airlock /m);
      for (const flag of ['--json', '--store <dir>', '--no-color', '-v, --verbose', '-h, --help'])
        expect(r.stdout).toContain(flag);
      for (const name of ['build', 'repro', 'why', 'store'])
        expect(r.stdout).toMatch(new RegExp(`^ {2}${name}\\b`, 'm'));
    });

    const commands = commandPaths(program());
    it('has the build, repro, why and store commands', () => {
      expect(commands.map((c) => c.path.join(' '))).toEqual(
        expect.arrayContaining(['build', 'repro', 'why', 'store', 'store fsck', 'store gc']),
      );
    });

    for (const { path, cmd } of commands) {
      it(`on "${path.join(' ')}" exits 0 and lists each of its flags`, async () => {
        const r = await runCli([...path, '--help']);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain(`Usage: airlock ${path.join(' ')}`);
        expect(r.stdout).toContain('-h, --help');
        for (const option of cmd.options) expect(r.stdout).toContain(option.flags);
        expect(r.stderr).toBe('');
      });
    }

    it('documents the project, cache, diffoscope and retention flags', async () => {
      const help = async (...path: string[]): Promise<string> =>
        (await runCli([...path, '--help'])).stdout;
      expect(await help('build')).toMatch(/-C, --project <dir>[\s\S]*--no-cache/);
      expect(await help('repro')).toMatch(/-C, --project <dir>[\s\S]*--no-diffoscope/);
      expect(await help('repro')).toMatch(/Exit status: 0 reproducible, 1 not reproducible/);
      expect(await help('why')).toContain('-C, --project <dir>');
      expect(await help('store', 'gc')).toContain('--retention-days <n>');
    });
  });

  describe('usage errors', () => {
    it('exits 2 for an unknown global flag', async () => {
      const r = await runCli(['--bogus-flag', 'build']);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("unknown option '--bogus-flag'");
    });

    it('exits 2 for an unknown flag of a command, pointing at its help', async () => {
      const r = await runCli(['--store', store, 'build', '-C', project, '--bogus-flag']);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("unknown option '--bogus-flag'");
      expect(r.stderr).toContain('fix: Run "airlock build --help"');
    });

    it('exits 2 for an unknown command and for a missing required argument', async () => {
      expect((await runCli(['frobnicate'])).status).toBe(2);
      const r = await runCli(['--store', store, 'repro', '-C', project]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("missing required argument 'target'");
    });
  });

  describe('--json', () => {
    it('makes build print exactly one JSON document on stdout and no progress on stderr', async () => {
      const r = await runCli(['--json', '--store', store, 'build', '-C', project, 'a']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.endsWith('}\n')).toBe(true);
      const doc = JSON.parse(r.stdout) as { ok: boolean; targets: { name: string }[] };
      expect(doc.ok).toBe(true);
      expect(doc.targets.map((t) => t.name)).toEqual(['a']);
      expect(r.stderr).not.toContain('made a');
      expect(r.stderr).not.toContain('step 1/1');
    });

    it('makes a failure one JSON document with code, message and hint, and no text error', async () => {
      const r = await runCli(['--json', '--store', store, 'build', '-C', project, 'broken']);
      expect(r.status).toBe(1);
      const doc = JSON.parse(r.stdout) as JsonError;
      expect(doc).toMatchObject({
        ok: false,
        error: {
          code: 'STEP_FAILED',
          message: expect.stringContaining('exited with status 4'),
          hint: expect.stringMatching(/\S/),
        },
      });
      expect(r.stderr).not.toContain('error[');
    });
  });

  describe('colour', () => {
    const plainEnv = { NO_COLOR: undefined, CI: undefined };

    it('writes no ANSI escapes when stdout and stderr are not terminals', () => {
      const ok = airlock(['--store', store, 'build', '--no-cache', '-C', project, 'a'], {
        env: plainEnv,
      });
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stderr).toContain('[a] made a');
      const failed = airlock(['--store', store, 'build', '-C', project, 'broken'], {
        env: plainEnv,
      });
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain('error[STEP_FAILED]');
      for (const text of [ok.stdout, ok.stderr, failed.stdout, failed.stderr])
        expect(text).not.toMatch(ANSI);
    });

    /** Runs the CLI on a pseudo-terminal (util-linux `script`) and returns what the terminal got. */
    const onTerminal = (args: string[], env: Record<string, string | undefined>): string => {
      const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`);
      const r = spawnSync('script', ['-qec', quoted.join(' '), '/dev/null'], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const buildArgs = ['--store', store, 'build', '--no-cache', '-C', project, 'a'];

    it('colours a terminal by default (so the checks below can fail)', () => {
      const out = onTerminal(buildArgs, plainEnv);
      expect(out).toContain('made a');
      expect(out).toMatch(SGR);
    });

    it('writes no colour on a terminal when NO_COLOR is set', () => {
      const out = onTerminal(buildArgs, { ...plainEnv, NO_COLOR: '1' });
      expect(out).toContain('made a');
      expect(out).not.toMatch(SGR);
    });

    it('writes no colour on a terminal with --no-color', () => {
      const out = onTerminal(['--no-color', ...buildArgs], plainEnv);
      expect(out).toContain('made a');
      expect(out).not.toMatch(SGR);
    });
  });
});
