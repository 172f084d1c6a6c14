import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toSarif } from '../src/check/index.js';
import { fixedClock } from '../src/core/clock.js';
import { runCheck } from '../src/pipeline/check.js';
import { runInit } from '../src/pipeline/init.js';
import { runPin } from '../src/pipeline/pin.js';
import { CORPUS } from './helpers/check-corpus.js';
import { runCli } from './helpers/cli.js';

const schema = JSON.parse(
  readFileSync(new URL('./fixtures/check/sarif-schema-2.1.0.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-check-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in-process and returns its exit status and stdout. */
async function cli(...args: string[]): Promise<{ status: number; out: string }> {
  const r = await runCli(args);
  return { status: r.status, out: r.stdout };
}

describe('airlock check --sarif', () => {
  it('validates against the official SARIF 2.1.0 schema, with fixes and suppressions', async () => {
    for (const c of ['docker-bad', 'gha-bad', 'suppressed', 'malformed'])
      cpSync(join(CORPUS, c), join(dir, c), { recursive: true });
    const report = await runCheck({ root: dir });
    const sarif = toSarif(report);
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    expect(validate(sarif), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const results = sarif.runs[0]!.results!;
    expect(
      results.some(
        (r) =>
          r.fixes?.[0]?.artifactChanges[0]?.replacements[0]?.insertedContent?.text === 'npm ci',
      ),
    ).toBe(true);
    expect(results.some((r) => r.suppressions?.[0]?.justification?.includes('CA bundle'))).toBe(
      true,
    );
    expect(validate({ version: '2.1.0', runs: [{ tool: { driver: {} } }] })).toBe(false);
  });

  it('prints SARIF from the CLI and honours --fail-under', async () => {
    cpSync(join(CORPUS, 'docker-bad'), dir, { recursive: true });
    const sarif = await cli('check', dir, '--sarif', '--fail-under', '2');
    expect(sarif.status).toBe(1);
    expect((JSON.parse(sarif.out) as { version: string }).version).toBe('2.1.0');
    const text = await cli('check', dir, '--no-color', '--fail-under', '1');
    expect(text.status).toBe(0);
    expect(text.out).toMatch(/\n {2}3:6 {2}error {3}base image/);
    expect(text.out).toContain('Hermeticity level 1 of 5');
    expect(text.out).not.toContain('\x1b[');
    expect((await cli('check', dir, '--fail-under', '9')).status).toBe(2);
  });

  it('reports a missing directory as an error, not a crash', async () => {
    await expect(runCheck({ root: join(dir, 'nope') })).rejects.toMatchObject({
      code: 'CHECK_ROOT_NOT_FOUND',
    });
  });
});

describe('check on the repository as a whole', () => {
  it('reports the missing airlock.yaml on the repository: no file location in SARIF, %SRCROOT% the root', async () => {
    cpSync(join(CORPUS, 'docker-bad'), dir, { recursive: true });
    const report = await runCheck({ root: dir });
    const noConfig = report.findings.find((f) => f.ruleId === 'airlock/no-config');
    expect(noConfig?.file).toBe('');
    const sarif = toSarif(report);
    const run = sarif.runs[0]!;
    expect(run.originalUriBaseIds?.['%SRCROOT%']?.uri).toBe(`${pathToFileURL(dir).href}/`);
    const result = run.results!.find((r) => r.ruleId === 'airlock/no-config');
    expect(result?.locations).toEqual([]);
    const text = await cli('check', dir, '--no-color');
    expect(text.out).toMatch(/^\(repository\)\n {2}note {4}no airlock\.yaml/m);
  });

  it('skips what .gitignore and .airlockignore ignore, honouring negation', async () => {
    const bad = 'FROM node\n';
    for (const d of ['generated', 'fixtures/bad', 'fixtures/keep', 'src'])
      mkdirSync(join(dir, d), { recursive: true });
    for (const d of ['generated', 'fixtures/bad', 'fixtures/keep', 'src'])
      writeFileSync(join(dir, d, 'Dockerfile'), bad);
    writeFileSync(join(dir, '.gitignore'), '# build output\n/generated/\n');
    writeFileSync(join(dir, '.airlockignore'), 'fixtures/*\n!fixtures/keep/\n');
    const files = new Set((await runCheck({ root: dir })).findings.map((f) => f.file));
    expect([...files].sort()).toEqual(['', 'fixtures/keep/Dockerfile', 'src/Dockerfile']);
  });

  it("scores Airlock's own repository by its own airlock.yaml: not by its test fixtures or examples, held at 3 only by the host toolchain", async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const report = await runCheck({ root });
    expect(
      report.findings.filter(
        (f) => f.file.startsWith('test/fixtures/') || f.file.startsWith('examples/'),
      ),
    ).toEqual([]);
    expect(report.findings.map((f) => `${f.file} ${f.ruleId}`)).toEqual([
      'airlock.yaml airlock/host-toolchain',
    ]);
    expect(report.level).toBe(3);
  });
});

describe('airlock pin', () => {
  const digest = `sha256:${'b'.repeat(64)}`;
  const write = (): void => {
    writeFileSync(
      join(dir, 'Dockerfile'),
      '# base\nFROM node:20.11.1 AS build # keep\nARG SOURCE_DATE_EPOCH\nFROM build\n',
    );
    writeFileSync(
      join(dir, 'compose.yaml'),
      'services:\n  web:\n    image: node:20.11.1  # same image\n',
    );
    writeFileSync(join(dir, 'package.json'), '{\n  "dependencies": { "ms": "^2.1.0" }\n}\n');
    writeFileSync(
      join(dir, 'package-lock.json'),
      JSON.stringify({
        lockfileVersion: 3,
        packages: {
          '': {},
          'node_modules/ms': {
            version: '2.1.2',
            resolved: 'https://registry.npmjs.org/ms/-/ms-2.1.2.tgz',
            integrity: 'sha512-x',
          },
        },
      }),
    );
    mkStore(join(dir, 'store'));
  };
  const mkStore = (store: string): void => {
    mkdirSync(store, { recursive: true });
    writeFileSync(
      join(store, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest,
            size: 1,
            annotations: { 'io.containerd.image.name': 'node:20.11.1' },
          },
        ],
      }),
    );
  };

  it('--dry-run shows a unified diff and writes nothing', async () => {
    write();
    const before = readFileSync(join(dir, 'Dockerfile'), 'utf8');
    const r = await runPin({ root: dir, dryRun: true, store: join(dir, 'store') });
    expect(r.diff).toContain(
      `-FROM node:20.11.1 AS build # keep\n+FROM node:20.11.1@${digest} AS build # keep`,
    );
    expect(r.diff).toContain('+  "dependencies": { "ms": "2.1.2" }');
    expect(readFileSync(join(dir, 'Dockerfile'), 'utf8')).toBe(before);
  });

  it('rewrites in place keeping comments, and check no longer reports what was pinned', async () => {
    write();
    const before = await runCheck({ root: dir });
    expect(before.findings.map((f) => f.ruleId)).toEqual(
      expect.arrayContaining(['image-digest', 'npm/version-range']),
    );
    const r = await runPin({ root: dir, store: join(dir, 'store') });
    expect(r.files.map((f) => f.path).sort()).toEqual([
      'Dockerfile',
      'compose.yaml',
      'package.json',
    ]);
    expect(readFileSync(join(dir, 'compose.yaml'), 'utf8')).toBe(
      `services:\n  web:\n    image: node:20.11.1@${digest}  # same image\n`,
    );
    const after = await runCheck({ root: dir });
    expect(
      after.findings.filter((f) =>
        ['image-digest', 'image-floating-tag', 'npm/version-range'].includes(f.ruleId),
      ),
    ).toEqual([]);
  });

  it('lists references the store cannot resolve', async () => {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM alpine:3.19\n');
    const r = await runPin({ root: dir, store: join(dir, 'empty-store') });
    expect(r.unresolved).toEqual([{ path: 'Dockerfile', ref: 'alpine:3.19' }]);
    expect(readFileSync(join(dir, 'Dockerfile'), 'utf8')).toBe('FROM alpine:3.19\n');
  });
});

describe('airlock init', () => {
  it('detects a Node project with a Dockerfile and Makefile, writes a commented airlock.yaml and checks it', async () => {
    cpSync(join(CORPUS, 'npm-good'), dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), 'FROM node:20\n');
    writeFileSync(join(dir, 'Makefile'), 'all:\n\tcc -o out/app main.c\n');
    writeFileSync(join(dir, 'main.c'), 'int main(void){return 0;}\n');
    const r = await runInit({ root: dir, clock: fixedClock(1_700_000_000_000) });
    expect(r.text).toContain('# sourceDateEpoch: 1700000000');
    expect(r.text).toMatch(/build:\n {4}sources: \["package.json", "package-lock.json"/);
    // The package-lock is installed offline by airlock (lock + fetch), not by an `npm ci` step.
    expect(r.text).toContain('    npm: { lockfile: package-lock.json }\n');
    expect(r.text).toContain('    steps:\n      - "npm run build"');
    expect(r.text).not.toContain('npm ci');
    expect(r.text).toContain('  native:');
    expect(r.check.findings.map((f) => f.ruleId)).toContain('airlock/host-toolchain');
    expect(r.check.findings.map((f) => f.ruleId)).not.toContain('airlock/no-config');
    expect(r.next).toBe(`airlock pin ${dir}`);
    await expect(runInit({ root: dir })).rejects.toMatchObject({ code: 'INIT_EXISTS' });
  });
});

describe('airlock init with install scripts in the package-lock', () => {
  it('lists the packages that have install scripts under npm.skipScripts, and the config parses', async () => {
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { esbuild: '0.20.0' } }),
    );
    writeFileSync(
      join(dir, 'package-lock.json'),
      JSON.stringify({
        name: 'app',
        lockfileVersion: 3,
        packages: {
          '': { name: 'app', version: '1.0.0', dependencies: { esbuild: '0.20.0' } },
          'node_modules/esbuild': { version: '0.20.0', hasInstallScript: true },
          'node_modules/@esbuild/linux-x64': { version: '0.20.0' },
          'node_modules/a/node_modules/fsevents': { version: '2.3.3', hasInstallScript: true },
        },
      }),
    );
    const r = await runInit({ root: dir, clock: fixedClock(1_700_000_000_000) });
    expect(r.text).toContain(
      '    npm: { lockfile: package-lock.json, skipScripts: ["esbuild", "fsevents"] }\n',
    );
    const { parseConfig } = await import('../src/config/index.js');
    const parsed = parseConfig(r.text, join(dir, 'airlock.yaml'));
    expect(parsed.problems.filter((p) => p.path.includes('npm'))).toEqual([]);
  });
});

describe('check on the bundled example', () => {
  it('reports the level examples/demo really reaches: 3, held by its host toolchains and its deliberate wall clock (not by __DATE__, which airlock build pins)', async () => {
    const r = await runCheck({ root: new URL('../examples/demo', import.meta.url).pathname });
    expect(r.level).toBe(3);
    expect(r.findings.filter((f) => f.ruleId === 'airlock/host-toolchain')).toHaveLength(4);
    // The lines are read from the files so reformatting them cannot break the test.
    const lineOf = (rel: string, needle: string): number =>
      readFileSync(new URL(`../examples/demo/${rel}`, import.meta.url), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes(needle)) + 1;
    expect(
      r.findings.filter((f) => f.ruleId === 'script/wall-clock').map((f) => `${f.file}:${f.line}`),
    ).toEqual([`clock/stamp.js:${lineOf('clock/stamp.js', 'new Date()')}`]);
  });
});
