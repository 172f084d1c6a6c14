import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { airlock, tempDir, type CliResult, runCli } from './helpers/cli.js';
import {
  fsckInProcess,
  storeBlobTexts,
  treeTexts,
  writeProject,
  type JsonError,
} from './helpers/e2e.js';

/** A one-target airlock.yaml whose target "a" reads a.txt; `extra` lines go into the target. */
const oneTarget = (extra: string, steps = '["mkdir -p out && cp a.txt out/"]'): string =>
  `version: 1
name: errs
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
${extra}    steps: ${steps}
    outputs: ["out/**"]
`;

describe('bad input', () => {
  const tmp = tempDir('e2e-errors');
  const store = join(tmp.path, 'store');
  let n = 0;
  /** A fresh project directory for each case. */
  const project = (yaml: string, files?: Record<string, string>): string =>
    writeProject(join(tmp.path, `p${++n}`), yaml, files);
  const build = (dir: string, ...args: string[]): Promise<CliResult> =>
    runCli(['--store', store, 'build', '-C', dir, ...args]);
  const buildJson = async (
    dir: string,
    ...args: string[]
  ): Promise<{ status: number; out: JsonError }> => {
    const r = await runCli(['--json', '--store', store, 'build', '-C', dir, ...args]);
    return { status: r.status, out: JSON.parse(r.stdout) as JsonError };
  };
  /** Asserts the text rendering of a typed error: `error[CODE]: …` then `  fix: …`. */
  const expectError = (r: CliResult, code: string, status = 1): void => {
    expect(r.status, r.stderr).toBe(status);
    expect(r.stderr).toMatch(new RegExp(`^error\\[${code}\\]: `, 'm'));
    expect(r.stderr).toMatch(/^ {2}fix: \S/m);
    expect(r.stderr).not.toContain('error[BUG]');
  };

  // The shared store holds a good build first, so every failure is checked against real content.
  beforeAll(async () => {
    const r = await build(project(oneTarget('')));
    expect(r.status, r.stderr).toBe(0);
  });
  // Every failure must leave the shared store consistent.
  afterEach(async () => {
    expect(existsSync(join(store, 'oci-layout'))).toBe(true);
    const { status, report } = await fsckInProcess(store);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(status).toBe(0);
  });
  afterAll(() => tmp.cleanup());

  describe('a malformed airlock.yaml', () => {
    it('fails with CONFIG_PARSE naming file:line:col of the syntax error', async () => {
      const dir = project(oneTarget('').replace('name: errs', 'name: errs: oops'));
      const r = await build(dir);
      expectError(r, 'CONFIG_PARSE');
      expect(r.stderr).toContain(`${join(dir, 'airlock.yaml')}:2:7: YAML syntax error`);
      const json = await buildJson(dir);
      expect(json.status).toBe(1);
      expect(json.out).toMatchObject({
        ok: false,
        error: { code: 'CONFIG_PARSE', hint: expect.stringMatching(/\S/) },
      });
      expect(json.out.error.details).toMatchObject({
        problems: [expect.objectContaining({ line: 2, column: 7 })],
      });
    });

    it('points at a tab used as indentation and says to indent with spaces', async () => {
      const dir = project(oneTarget('').replace('    steps:', '\tsteps:'));
      const r = await build(dir);
      expectError(r, 'CONFIG_PARSE');
      expect(r.stderr).toMatch(/airlock\.yaml:7:1: YAML syntax error: Tabs .*indent with spaces/);
    });
  });

  describe('an unknown key', () => {
    it('fails with CONFIG_INVALID at the key and suggests the right name', async () => {
      const dir = project(oneTarget('').replace('sources:', 'sourcs:'));
      const r = await build(dir);
      expectError(r, 'CONFIG_INVALID');
      expect(r.stderr).toContain(`${join(dir, 'airlock.yaml')}:6:5: targets.a.sourcs:`);
      expect(r.stderr).toContain('did you mean "sources"?');
      const { out } = await buildJson(dir);
      expect(out.error.details).toMatchObject({
        problems: [expect.objectContaining({ line: 6, column: 5, fix: 'rename it to "sources"' })],
      });
    });
  });

  describe('a sources glob matching nothing', () => {
    it('fails with CONFIG_INVALID at the pattern, before anything is built', async () => {
      const dir = project(oneTarget('').replace('["a.txt"]', '["a.txt", "src/**/*.c"]'));
      const r = await build(dir);
      expectError(r, 'CONFIG_INVALID');
      expect(r.stderr).toMatch(
        /airlock\.yaml:\d+:\d+: targets\.a\.sources\[1\]: sources pattern "src\/\*\*\/\*\.c" matches no file/,
      );
      expect((await buildJson(dir)).out.error.details).toMatchObject({
        problems: [expect.objectContaining({ path: 'targets.a.sources[1]' })],
      });
    });

    it('is reported together with every other problem of the file, in one run', async () => {
      const dir = project(
        oneTarget('    deps: [ghost]\n')
          .replace('["a.txt"]', '["a.txt", "src/**/*.c", "missing.txt"]')
          .replace('version: 1', 'version: 1\nnmae: x'),
      );
      const r = await build(dir);
      expectError(r, 'CONFIG_INVALID');
      const problems = (
        (await buildJson(dir)).out.error.details as { problems: { path: string }[] }
      ).problems;
      expect(problems.map((p) => p.path).sort()).toEqual(
        ['nmae', 'targets.a.deps[0]', 'targets.a.sources[1]', 'targets.a.sources[2]'].sort(),
      );
    });
  });

  describe('the target graph', () => {
    it('rejects a dependency on a target that does not exist, listing the real ones', async () => {
      const dir = project(oneTarget('    deps: [ghost]\n'));
      const r = await build(dir);
      expectError(r, 'CONFIG_INVALID');
      expect(r.stderr).toMatch(/targets\.a\.deps\[0\]: dep "ghost" is not a target/);
      expect(r.stderr).toContain('use one of: a');
    });

    it('rejects a dependency cycle, showing the cycle', async () => {
      const yaml = `${oneTarget('    deps: [b]\n')}  b:
    sources: ["a.txt"]
    deps: [a]
    steps: ["mkdir -p out2 && cp a.txt out2/"]
    outputs: ["out2/**"]
`;
      const r = await build(project(yaml));
      expectError(r, 'CONFIG_INVALID');
      expect(r.stderr).toMatch(/dependency cycle: (a → b → a|b → a → b)/);
    });

    it('exits 2 for an unknown target on the command line, listing the declared ones', async () => {
      const dir = project(oneTarget(''));
      const r = await build(dir, 'nope');
      expectError(r, 'UNKNOWN_TARGET', 2);
      expect(r.stderr).toContain('unknown target "nope"');
      expect(r.stderr).toMatch(/fix: .*\ba\b/);
      for (const command of ['repro', 'why'])
        expectError(
          await runCli(['--store', store, command, 'nope', '-C', dir]),
          'UNKNOWN_TARGET',
          2,
        );
      expect(await buildJson(dir, 'nope')).toMatchObject({
        status: 2,
        out: { ok: false, error: { code: 'UNKNOWN_TARGET' } },
      });
    });
  });

  describe('a failing step', () => {
    const yaml = `${oneTarget('', '["echo compiling; seq 1 40; echo \\"oops: bad thing at line 7\\" >&2; exit 3"]')}  ok:
    sources: ["b.txt"]
    steps: ["mkdir -p good && cp b.txt good/"]
    outputs: ["good/**"]
`;
    const files = { 'a.txt': 'a\n', 'b.txt': 'b\n' };

    it('fails with STEP_FAILED giving the exit status and the tail of its log', async () => {
      const dir = project(yaml, files);
      const r = await build(dir, 'a');
      expectError(r, 'STEP_FAILED');
      expect(r.stderr).toMatch(/step 1 of 1 \(.*\) exited with status 3/);
      // Only the tail (nothing before it looks like an error): the last 15 lines of stdout then stderr.
      expect(r.stderr).toMatch(
        /--- last 15 lines ---\n27\n28\n[\d\n]*\n40\noops: bad thing at line 7\n/,
      );
      const { out } = await buildJson(dir, 'a');
      expect(out.error.message).not.toContain('--- first error lines');
      const tail = out.error.message.split('--- last 15 lines ---\n')[1];
      expect(tail?.split('\n')).toHaveLength(15);
      expect(tail).not.toContain('compiling');
      expect(out.error.message).toContain('oops: bad thing at line 7');
      expect(out.error.details).toMatchObject({ target: 'a', step: 0, exitCode: 3 });
      // The hint names both full log blobs, and they really hold the log.
      const stdoutBlob = /stdout blob (sha256:[0-9a-f]{64})/.exec(out.error.hint ?? '')?.[1];
      const stderrBlob = /stderr blob (sha256:[0-9a-f]{64})/.exec(out.error.hint ?? '')?.[1];
      expect(stdoutBlob).toBeDefined();
      expect(stderrBlob).toBeDefined();
      expect(readFileSync(join(store, 'blobs/sha256', stdoutBlob!.slice(7)), 'utf8')).toContain(
        'compiling',
      );
      expect(readFileSync(join(store, 'blobs/sha256', stderrBlob!.slice(7)), 'utf8')).toContain(
        'oops',
      );
    });

    it('does not stop a later build of an unrelated target', async () => {
      const dir = project(yaml, files);
      expect((await build(dir, 'a')).status).toBe(1);
      const r = await build(dir, 'ok');
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(join(dir, 'good/b.txt'), 'utf8')).toBe('b\n');
      expect(existsSync(join(dir, 'out'))).toBe(false);
    });
  });

  describe('a step that writes no declared output', () => {
    it('fails with OUTPUT_MISSING naming the output pattern', async () => {
      const r = await build(project(oneTarget('', '["echo nothing written"]')));
      expectError(r, 'OUTPUT_MISSING');
      expect(r.stderr).toContain('no step wrote a file matching output "out/**"');
    });
  });

  describe('the host', () => {
    it('fails with TOOL_NOT_FOUND for a host tool not on PATH', async () => {
      const r = await build(
        project(oneTarget('    toolchain: { host: [airlock-no-such-tool] }\n')),
      );
      expectError(r, 'TOOL_NOT_FOUND');
      expect(r.stderr).toContain('host tool "airlock-no-such-tool" is not on PATH');
      expect(r.stderr).toMatch(/fix: .*toolchain\.host/);
    });

    it('fails with SANDBOX_UNAVAILABLE and the apt-get hint when bwrap is not on PATH', () => {
      const bin = join(tmp.path, 'node-only-bin');
      mkdirSync(bin);
      symlinkSync(process.execPath, join(bin, 'node'));
      const dir = project(oneTarget('    toolchain: { host: [] }\n', '["true"]'));
      const r = airlock(['--store', store, 'build', '-C', dir], { env: { PATH: bin } });
      expectError(r, 'SANDBOX_UNAVAILABLE');
      expect(r.stderr).toContain('bubblewrap (bwrap) was not found');
      expect(r.stderr).toContain('apt-get install bubblewrap');
    });

    it('fails with STORE_NOT_WRITABLE when the store path cannot be a directory', async () => {
      const file = join(tmp.path, 'a-regular-file');
      writeFileSync(file, 'not a directory\n');
      const r = await runCli([
        '--store',
        join(file, 'store'),
        'build',
        '-C',
        project(oneTarget('')),
      ]);
      expectError(r, 'STORE_NOT_WRITABLE');
      expect(r.stderr).toContain(join(file, 'store'));
      expect(readFileSync(file, 'utf8')).toBe('not a directory\n');
    });
  });

  describe('a secret in the host environment', () => {
    it('never reaches an output file, a log blob or the CLI output of a step running env', () => {
      const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
      const dir = project(oneTarget('', '["env", "mkdir -p out && env > out/env.txt && env >&2"]'));
      const r = airlock(['--store', store, 'build', '-C', dir], {
        env: { AIRLOCK_TEST_SECRET: secret },
      });
      expect(r.status, r.stderr).toBe(0);
      // The step did run env, and its output was captured everywhere we search.
      const envFile = readFileSync(join(dir, 'out/env.txt'), 'utf8');
      expect(envFile).toContain('SOURCE_DATE_EPOCH=1700000000');
      expect(envFile).not.toContain('AIRLOCK_TEST_SECRET');
      expect(r.stderr).toContain('[a] HOME=/home/build');
      const blobs = storeBlobTexts(store);
      expect([...blobs.values()].some((t) => t.includes('SOURCE_DATE_EPOCH=1700000000'))).toBe(
        true,
      );
      const leaks = [
        ...[...treeTexts(dir)].map(([p, t]) => [`project:${p}`, t] as const),
        ...[...blobs].map(([b, t]) => [`blob:${b}`, t] as const),
        ...[...treeTexts(store)].map(([p, t]) => [`store:${p}`, t] as const),
        ['stdout', r.stdout] as const,
        ['stderr', r.stderr] as const,
      ].filter(([, t]) => t.includes(secret) || t.includes('AIRLOCK_TEST_SECRET'));
      expect(leaks.map(([where]) => where)).toEqual([]);
    });
  });
});
