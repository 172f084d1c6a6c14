import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { noEvents } from '../src/core/events.js';
import type { TreeEntry } from '../src/core/tree.js';
import { hashTree } from '../src/hash/inputs.js';
import { StatCache } from '../src/hash/stat-cache.js';
import { walkGlobs } from '../src/hash/walk.js';
import { parseLock } from '../src/lock/index.js';
import { runBuild } from '../src/pipeline/build.js';
import { lockFactsOf } from '../src/pipeline/evidence-lock.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { runLock } from '../src/pipeline/lock.js';
import { treeOf } from '../src/pipeline/npm-install.js';
import { Store } from '../src/store/index.js';
import { REPO } from './helpers/cli.js';
import { npmEnv, sharedVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

const exec = promisify(execFile);

/** Every entry of a tree (path, kind, executable bit, content digest or link target). */
async function entriesOf(dir: string, stat: StatCache): Promise<TreeEntry[]> {
  return hashTree(dir, (await walkGlobs(dir, ['**'])).matched, stat);
}
/** pnpm is a pinned devDependency (a native binary inside the npm package). */
const PNPM = join(REPO, 'node_modules', 'pnpm', 'pnpm');

let work: string;
let reg: TestNpmRegistry;
let savedPath: string | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-pnpm-install-'));
  // The host tool the build binds: `pnpm` on PATH, as a global install puts it.
  const bin = join(work, 'bin');
  await mkdir(bin);
  await symlink(PNPM, join(bin, 'pnpm'));
  savedPath = process.env.PATH;
  process.env.PATH = `${bin}:/usr/local/bin:/usr/bin:/bin`;
  reg = await sharedVerdaccio();
  await reg.publish('ms', '2.1.3');
  await reg.publish('dep-a', '1.0.0', {}, { dependencies: { ms: '2.1.3' } });
  await reg.publish(
    '@sc/bee',
    '1.0.0',
    { 'bin.js': '#!/usr/bin/env node\nconsole.log("bee")\n' },
    { bin: { bee: 'bin.js' } },
  );
  await reg.publish(
    'with-script',
    '1.0.0',
    { 'install.js': 'require("fs").writeFileSync("built.txt", "ran")\n' },
    { scripts: { install: 'node install.js' } },
  );
  await reg.publish(
    'other-script',
    '1.0.0',
    { 'install.js': 'require("fs").writeFileSync("built.txt", "ran")\n' },
    { scripts: { postinstall: 'node install.js' } },
  );
}, 120_000);

afterAll(async () => {
  process.env.PATH = savedPath;
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const YAML = `version: 1
name: mono
sourceDateEpoch: 1700000000
targets:
  app:
    sources: ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml", "packages/**"]
    npm: { lockfile: pnpm-lock.yaml }
    toolchain: { host: [node] }
    steps: ["mkdir -p out && node packages/a/main.js > out/result.txt && ls node_modules/.bin > out/bins.txt"]
    outputs: ["out/**"]
`;

/** pnpm run as a user would, against the test registry, with its own home. */
async function pnpm(dir: string, args: string[]): Promise<void> {
  const home = join(work, 'pnpm-home');
  await exec(PNPM, [...args, '--config.minimum-release-age=0'], {
    cwd: dir,
    env: npmEnv({ HOME: home, XDG_CACHE_HOME: join(home, 'cache'), CI: '1' }),
  });
}

/** A pnpm workspace (root + two projects, one depending on the other) with its lock written by pnpm. */
async function workspace(name: string, rootDeps: Record<string, string> = {}): Promise<string> {
  const dir = join(work, name);
  const files: Record<string, string> = {
    'airlock.yaml': YAML,
    '.npmrc': `registry=${reg.url}\n`,
    'package.json': JSON.stringify({
      name: 'mono',
      private: true,
      devDependencies: { '@sc/bee': '1.0.0' },
      dependencies: rootDeps,
    }),
    'pnpm-workspace.yaml': "packages:\n  - 'packages/*'\n",
    'packages/a/package.json': JSON.stringify({
      name: 'a',
      version: '1.0.0',
      dependencies: { 'dep-a': '^1.0.0', b: 'workspace:*' },
    }),
    'packages/a/main.js': 'console.log(require("dep-a"), require("b"));\n',
    'packages/b/package.json': JSON.stringify({
      name: 'b',
      version: '1.0.0',
      main: 'index.js',
      dependencies: { ms: '2.1.3' },
    }),
    'packages/b/index.js': 'module.exports = "b with " + require("ms");\n',
  };
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), text);
  }
  await pnpm(dir, ['install', '--lockfile-only']);
  return dir;
}

describe('a pnpm workspace: lock, fetch and offline install in the sandbox', () => {
  it('locks every package of pnpm-lock.yaml, fetches them, and builds offline; the tree equals an online pnpm install', async () => {
    const dir = await workspace('ws');
    const store = join(work, 'store');
    const report = await runLock({ project: await loadConfig(dir) });
    expect(report.counts.npm).toBe(3);
    const lock = parseLock(await readFile(join(dir, 'airlock.lock'), 'utf8'));
    expect(lock.npm.map((e) => [e.name, e.version, e.resolved])).toEqual([
      ['@sc/bee', '1.0.0', `${reg.url}@sc/bee/-/bee-1.0.0.tgz`],
      ['dep-a', '1.0.0', `${reg.url}dep-a/-/dep-a-1.0.0.tgz`],
      ['ms', '2.1.3', `${reg.url}ms/-/ms-2.1.3.tgz`],
    ]);
    expect(lock.npm.every((e) => e.integrity.startsWith('sha512-'))).toBe(true);

    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({ code: 'INPUT_NOT_FETCHED' });
    await runFetch({ project: await loadConfig(dir), store });
    const fetched = parseLock(await readFile(join(dir, 'airlock.lock'), 'utf8'));
    expect(fetched.npm.every((e) => e.sha256 !== undefined)).toBe(true);

    const first = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(first.targets[0]?.cached).toBe(false);
    expect(await readFile(join(dir, 'out', 'result.txt'), 'utf8')).toBe(
      'dep-a@1.0.0 b with ms@2.1.3\n',
    );
    expect(await readFile(join(dir, 'out', 'bins.txt'), 'utf8')).toBe('bee\n');
    // Nothing was installed into the project itself.
    await expect(readdir(join(dir, 'node_modules'))).rejects.toMatchObject({ code: 'ENOENT' });

    // Each project's node_modules equals what pnpm writes online from the same lock.
    const installs = await readdir(join(store, 'airlock', 'v1', 'npm'));
    expect(installs).toHaveLength(1);
    const ours = join(store, 'airlock', 'v1', 'npm', installs[0]!, 'root');
    const online = join(work, 'online');
    for (const f of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', '.npmrc'])
      await cp(join(dir, f), join(online, f));
    for (const p of ['a', 'b'])
      await cp(
        join(dir, 'packages', p, 'package.json'),
        join(online, 'packages', p, 'package.json'),
      );
    await pnpm(online, ['install', '--frozen-lockfile', '--ignore-scripts']);
    const stat = StatCache.memory();
    for (const nm of ['node_modules', 'packages/a/node_modules', 'packages/b/node_modules']) {
      // What pnpm records about when and where it ran is not part of the tree.
      for (const f of await readdir(join(online, nm)))
        if (f === '.modules.yaml' || f.startsWith('.pnpm-workspace-state'))
          await rm(join(online, nm, f));
      // pnpm's bin shims name the project's absolute path: the sandbox's is /src.
      for (const { path } of (await walkGlobs(join(online, nm), ['**/.bin/*'])).matched) {
        const file = join(online, nm, path);
        await writeFile(file, (await readFile(file, 'utf8')).split(online).join('/src'));
      }
      expect(await entriesOf(join(ours, nm), stat), nm).toEqual(
        await entriesOf(join(online, nm), stat),
      );
      expect(await treeOf(join(ours, nm), stat), nm).toBe(await treeOf(join(online, nm), stat));
    }

    // Unchanged lock: the install and the action are reused.
    const second = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(second.targets[0]?.cached).toBe(true);
    expect(await readdir(join(store, 'airlock', 'v1', 'npm'))).toEqual(installs);
  }, 240_000);

  it('lock --check lists a pnpm package airlock.lock lacks, and the SBOM facts carry pnpm packages with their edges', async () => {
    const dir = await workspace('ws-check');
    const store = join(work, 'store-check');
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    const project = await loadConfig(dir);
    const s = await Store.open(store);
    const facts = await lockFactsOf(project, s, project.targets.get('app')!);
    s.close();
    expect(facts.map((f) => [f.name, f.version, f.dependsOn])).toEqual([
      ['@sc/bee', '1.0.0', []],
      ['dep-a', '1.0.0', ['ms@2.1.3']],
      ['ms', '2.1.3', []],
    ]);
    expect(facts.every((f) => f.digest?.startsWith('sha256:'))).toBe(true);

    const text = await readFile(join(dir, 'airlock.lock'), 'utf8');
    await writeFile(
      join(dir, 'airlock.lock'),
      text
        .split('\n')
        .filter((l) => !l.includes('"name":"ms"'))
        .join('\n')
        .replace(/,\n\]/, '\n]'),
    );
    await expect(runLock({ project: await loadConfig(dir), check: true })).rejects.toMatchObject({
      code: 'LOCK_STALE',
      message: expect.stringContaining('npm ms@2.1.3: not in airlock.lock'),
    });
  }, 120_000);

  it('locks and fetches a lockfileVersion 6.0 workspace like a 9.0 one; a pnpm that refuses the format fails the install with what to do', async () => {
    const v9dir = await workspace('ws-v9');
    await runLock({ project: await loadConfig(v9dir) });
    const v9 = parseLock(await readFile(join(v9dir, 'airlock.lock'), 'utf8'));
    const integrity = (name: string): string => v9.npm.find((e) => e.name === name)!.integrity;
    // The same workspace as pnpm 8 writes it (src/lock/pnpm-lock.test.ts holds its real output).
    const dir = await workspace('ws-v6');
    await writeFile(
      join(dir, 'pnpm-lock.yaml'),
      [
        "lockfileVersion: '6.0'",
        '',
        'importers:',
        '  .:',
        '    devDependencies:',
        "      '@sc/bee': { specifier: 1.0.0, version: 1.0.0 }",
        '  packages/a:',
        '    dependencies:',
        "      b: { specifier: 'workspace:*', version: link:../b }",
        '      dep-a: { specifier: ^1.0.0, version: 1.0.0 }',
        '  packages/b:',
        '    dependencies:',
        '      ms: { specifier: 2.1.3, version: 2.1.3 }',
        '',
        'packages:',
        '  /@sc/bee@1.0.0:',
        `    resolution: {integrity: ${integrity('@sc/bee')}}`,
        '    hasBin: true',
        '    dev: true',
        '  /dep-a@1.0.0:',
        `    resolution: {integrity: ${integrity('dep-a')}}`,
        '    dependencies:',
        '      ms: 2.1.3',
        '    dev: false',
        '  /ms@2.1.3:',
        `    resolution: {integrity: ${integrity('ms')}}`,
        '    dev: false',
        '',
      ].join('\n'),
    );
    const store = join(work, 'store-v6');
    await runLock({ project: await loadConfig(dir) });
    expect(await readFile(join(dir, 'airlock.lock'), 'utf8')).toBe(
      await readFile(join(v9dir, 'airlock.lock'), 'utf8'),
    );
    await runFetch({ project: await loadConfig(dir), store });
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({
      code: 'STEP_FAILED',
      message: expect.stringMatching(/lockfileVersion\s+of\s+6\.0\s+is\s+incompatible/),
      hint: expect.stringContaining('If pnpm refused lockfileVersion 6.0 (pnpm 12 does)'),
    });
  }, 120_000);

  it('refuses a package whose install script the config neither allows nor skips; runs only the allowed ones', async () => {
    const dir = await workspace('ws-script', { 'with-script': '1.0.0', 'other-script': '1.0.0' });
    const store = join(work, 'store-script');
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({
      code: 'INSTALL_SCRIPT_UNDECIDED',
      message: expect.stringContaining(
        'other-script@1.0.0, with-script@1.0.0 have install scripts',
      ),
    });
    await writeFile(
      join(dir, 'airlock.yaml'),
      YAML.replace(
        'npm: { lockfile: pnpm-lock.yaml }',
        'npm: { lockfile: pnpm-lock.yaml, skipScripts: [with-script, other-script] }',
      ),
    );
    const skipped = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(skipped.targets[0]?.cached).toBe(false);
    const script = 'node_modules/.pnpm/with-script@1.0.0/node_modules/with-script/built.txt';
    const installed = async (): Promise<string> => {
      const [hex] = await readdir(join(store, 'airlock', 'v1', 'npm'));
      return join(store, 'airlock', 'v1', 'npm', hex!, 'root');
    };
    await expect(readFile(join(await installed(), script), 'utf8')).rejects.toMatchObject({
      code: 'ENOENT',
    });

    // Allowed: the script runs in the sandbox (offline), and its output is part of the tree.
    await writeFile(
      join(dir, 'airlock.yaml'),
      YAML.replace(
        'npm: { lockfile: pnpm-lock.yaml }',
        'npm: { lockfile: pnpm-lock.yaml, scripts: [with-script], skipScripts: [other-script] }',
      ),
    );
    await rm(join(store, 'airlock', 'v1', 'npm'), { recursive: true });
    const ran = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(ran.targets[0]?.cached).toBe(false);
    expect(await readFile(join(await installed(), script), 'utf8')).toBe('ran');
    await expect(
      readFile(join(await installed(), script.replaceAll('with-script', 'other-script')), 'utf8'),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);
});
