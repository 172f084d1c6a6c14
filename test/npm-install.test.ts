import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { noEvents } from '../src/core/events.js';
import { StatCache } from '../src/hash/stat-cache.js';
import { hashTree } from '../src/hash/inputs.js';
import { walkGlobs } from '../src/hash/walk.js';
import type { TreeEntry } from '../src/core/tree.js';
import { runBuild } from '../src/pipeline/build.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { runLock } from '../src/pipeline/lock.js';
import { treeOf } from '../src/pipeline/npm-install.js';
import { runGc } from '../src/pipeline/store.js';
import { runWhy } from '../src/pipeline/why.js';
import { npmEnv, npmLock, sharedVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

const exec = promisify(execFile);

/** Every entry of a tree (path, kind, executable bit, content digest or link target). */
async function entriesOf(dir: string, stat: StatCache): Promise<TreeEntry[]> {
  return hashTree(dir, (await walkGlobs(dir, ['**'])).matched, stat);
}

let work: string;
let reg: TestNpmRegistry;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-npm-install-'));
  reg = await sharedVerdaccio();
  await reg.publish(
    'tool-a',
    '1.0.0',
    { 'bin/a.js': '#!/usr/bin/env node\nconsole.log("a")\n' },
    { bin: { 'tool-a': 'bin/a.js' } },
  );
  await reg.publish(
    'tool-a',
    '1.0.1',
    { 'bin/a.js': '#!/usr/bin/env node\nconsole.log("a1")\n' },
    { bin: { 'tool-a': 'bin/a.js' } },
  );
  await reg.publish('tool-b', '2.0.0', {}, { dependencies: { 'tool-a': '1.0.0' } });
  await reg.publish('tool-b', '2.0.1', {}, { dependencies: { 'tool-a': '1.0.1' } });
  await reg.publish(
    'with-script',
    '1.0.0',
    { 'install.js': 'require("fs").writeFileSync("built.txt", "ran")\n' },
    { scripts: { install: 'node install.js' } },
  );
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const YAML = `version: 1
name: app
sourceDateEpoch: 1700000000
targets:
  app:
    sources: ["package.json", "package-lock.json", "main.js"]
    npm: { lockfile: package-lock.json }
    toolchain: { host: [node] }
    steps: ["mkdir -p out && node main.js > out/result.txt && ls node_modules/.bin > out/bins.txt"]
    outputs: ["out/**"]
`;

describe('offline npm install in the sandbox', () => {
  it('builds from fetched tarballs only, equal to an online npm ci, reused while the lock is unchanged; why names a bumped package', async () => {
    const dir = join(work, 'app');
    const store = join(work, 'store');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'airlock.yaml'), YAML);
    await writeFile(join(dir, '.npmrc'), `registry=${reg.url}\n`);
    await writeFile(join(dir, 'main.js'), 'console.log(require("tool-b"), require("tool-a"));\n');
    await npmLock(dir, reg, { 'tool-b': '2.0.0' });
    await rm(join(dir, 'node_modules'), { recursive: true, force: true });
    await runLock({ project: await loadConfig(dir) });

    // Before fetch: a clear error naming `airlock fetch`.
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({
      code: 'INPUT_NOT_FETCHED',
      hint: expect.stringContaining('airlock fetch'),
    });
    await runFetch({ project: await loadConfig(dir), store });

    const logs: string[] = [];
    const first = await runBuild({
      project: dir,
      store,
      targets: [],
      events: (e) => void (e.type === 'log' && logs.push(e.message)),
    });
    expect(first.targets[0]?.cached).toBe(false);
    // Written from the store, not by npm.
    expect(logs).toContain('installed package-lock.json from the store (2 packages)');
    expect(await readFile(join(dir, 'out', 'result.txt'), 'utf8')).toBe(
      'tool-b@2.0.0 tool-a@1.0.0\n',
    );
    expect(await readFile(join(dir, 'out', 'bins.txt'), 'utf8')).toBe('tool-a\n');

    // The installed tree equals what `npm ci` writes online for the same lock.
    const installs = await readdir(join(store, 'airlock', 'v1', 'npm'));
    expect(installs).toHaveLength(1);
    const recorded = JSON.parse(
      await readFile(join(store, 'airlock', 'v1', 'npm', installs[0]!, 'install.json'), 'utf8'),
    ) as { tree: string };
    const online = join(work, 'online');
    await mkdir(online);
    await cp(join(dir, 'package.json'), join(online, 'package.json'));
    await cp(join(dir, 'package-lock.json'), join(online, 'package-lock.json'));
    await writeFile(join(work, 'online-npmrc'), reg.npmrc);
    await exec(
      'npm',
      [
        'ci',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--userconfig',
        join(work, 'online-npmrc'),
        '--cache',
        join(work, 'online-cache'),
      ],
      { cwd: online, env: npmEnv() },
    );
    const stat = StatCache.memory();
    try {
      const installed = join(store, 'airlock', 'v1', 'npm', installs[0]!, 'node_modules');
      expect(await entriesOf(join(online, 'node_modules'), stat)).toEqual(
        await entriesOf(installed, stat),
      );
      expect(await treeOf(join(online, 'node_modules'), stat)).toBe(recorded.tree);
    } finally {
      stat.close();
    }

    // Unchanged lock: the target is a cache hit and nothing is installed again.
    await rm(join(dir, 'out'), { recursive: true });
    const again = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(again.targets[0]?.cached).toBe(true);
    expect(await readdir(join(store, 'airlock', 'v1', 'npm'))).toEqual(installs);

    // An installed tree altered on disk: a cache hit never reads it, a step that runs gets it re-installed.
    const tampered = join(
      store,
      'airlock',
      'v1',
      'npm',
      installs[0]!,
      'node_modules',
      'tool-a',
      'index.js',
    );
    await writeFile(tampered, 'module.exports = "tampered";\n');
    expect(
      (await runBuild({ project: dir, store, targets: [], events: noEvents })).targets[0]?.cached,
    ).toBe(true);
    await writeFile(
      join(dir, 'main.js'),
      'console.log(require("tool-b"), require("tool-a")); // v2\n',
    );
    const rerun = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(rerun.targets[0]?.cached).toBe(false);
    expect(await readFile(join(dir, 'out', 'result.txt'), 'utf8')).toBe(
      'tool-b@2.0.0 tool-a@1.0.0\n',
    );
    expect(await readFile(tampered, 'utf8')).not.toContain('tampered');

    // A bumped dependency: why names it with the old and new version and hash.
    await npmLock(dir, reg, { 'tool-b': '2.0.1' });
    await rm(join(dir, 'node_modules'), { recursive: true, force: true });
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    const why = await runWhy({ project: dir, store, target: 'app', events: noEvents });
    expect(why.verdict).toBe('changed');
    const bump = why.changes.find((c) => c.component === 'locked' && c.path === 'tool-a');
    expect(bump).toMatchObject({ detail: 'npm tool-a changed from 1.0.0 to 1.0.1' });
    expect(bump?.old).toMatch(/^1\.0\.0 sha512-/);
    expect(bump?.new).toMatch(/^1\.0\.1 sha512-/);

    // gc: the install the latest build uses stays; the one only a forgotten build used goes.
    await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(await readdir(join(store, 'airlock', 'v1', 'npm'))).toHaveLength(2);
    const kept = await runGc({ store, retentionMs: 14 * 86_400_000, dryRun: false });
    expect(kept.npmTreesRemoved).toBe(0);
    const gc = await runGc({ store, retentionMs: 0, dryRun: false });
    expect(gc.npmTreesRemoved).toBe(1);
    const left = await readdir(join(store, 'airlock', 'v1', 'npm'));
    expect(left).toHaveLength(1);
    expect(left).not.toContain(installs[0]);
    const rebuilt = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(rebuilt.targets[0]?.cached).toBe(false); // gc expired the action entry, not the install
    expect(await readdir(join(store, 'airlock', 'v1', 'npm'))).toEqual(left);
    expect(await readFile(join(dir, 'out', 'result.txt'), 'utf8')).toBe(
      'tool-b@2.0.1 tool-a@1.0.1\n',
    );
  }, 180_000);

  it('fails on an install script the target neither allows nor skips, naming the package and both keys; runs it only when allowed', async () => {
    const dir = join(work, 'scripts');
    const store = join(work, 'store-scripts');
    await mkdir(dir, { recursive: true });
    await npmLock(dir, reg, { 'with-script': '1.0.0' });
    await rm(join(dir, 'node_modules'), { recursive: true, force: true });
    await writeFile(join(dir, '.npmrc'), `registry=${reg.url}\n`);
    const yaml = (npm: string): string =>
      `version: 1\nname: s\nsourceDateEpoch: 1700000000\ntargets:\n  app:\n    sources: ["package.json", "package-lock.json"]\n    npm: { lockfile: package-lock.json${npm} }\n    steps: ["mkdir -p out && (cat node_modules/with-script/built.txt || echo none) > out/r.txt"]\n    outputs: ["out/**"]\n`;
    await writeFile(join(dir, 'airlock.yaml'), yaml(''));
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    await expect(
      runBuild({ project: dir, store, targets: [], events: noEvents }),
    ).rejects.toMatchObject({
      code: 'INSTALL_SCRIPT_UNDECIDED',
      message: expect.stringContaining('with-script@1.0.0 has an install script'),
      hint: expect.stringMatching(
        /"with-script" to targets\.app\.npm\.scripts .*targets\.app\.npm\.skipScripts/,
      ),
    });
    await expect(readFile(join(dir, 'out', 'r.txt'), 'utf8')).rejects.toThrow();

    await writeFile(join(dir, 'airlock.yaml'), yaml(', skipScripts: [with-script]'));
    await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).toBe('none\n');

    await writeFile(join(dir, 'airlock.yaml'), yaml(', scripts: [with-script]'));
    const logs: string[] = [];
    await runBuild({
      project: dir,
      store,
      targets: [],
      events: (e) => void (e.type === 'log' && logs.push(e.message)),
    });
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).toBe('ran');
    // Allowed scripts run through npm in the sandbox.
    expect(logs).toContain('installed package-lock.json offline (1 packages)');
  }, 180_000);

  it("installs npm workspaces: the lock's links resolve to the workspace packages in the sources", async () => {
    const dir = join(work, 'ws');
    const store = join(work, 'store-ws');
    await mkdir(join(dir, 'packages', 'w'), { recursive: true });
    await writeFile(
      join(dir, 'packages', 'w', 'package.json'),
      JSON.stringify({
        name: 'w',
        version: '0.1.0',
        main: 'index.js',
        dependencies: { 'tool-a': '1.0.0' },
      }),
    );
    await writeFile(
      join(dir, 'packages', 'w', 'index.js'),
      'module.exports = "w+" + require("tool-a");\n',
    );
    await npmLock(dir, reg, {}, { workspaces: ['packages/*'] });
    await rm(join(dir, 'node_modules'), { recursive: true, force: true });
    await writeFile(join(dir, '.npmrc'), `registry=${reg.url}\n`);
    await writeFile(
      join(dir, 'airlock.yaml'),
      `version: 1\nname: ws\nsourceDateEpoch: 1700000000\ntargets:\n  app:\n    sources: ["package.json", "package-lock.json", "packages/**"]\n    npm: { lockfile: package-lock.json }\n    toolchain: { host: [node] }\n    steps: ["mkdir -p out && node -e 'console.log(require(\\"w\\"))' > out/r.txt"]\n    outputs: ["out/**"]\n`,
    );
    await runLock({ project: await loadConfig(dir) });
    await runFetch({ project: await loadConfig(dir), store });
    const logs: string[] = [];
    await runBuild({
      project: dir,
      store,
      targets: [],
      events: (e) => void (e.type === 'log' && logs.push(e.message)),
    });
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).toBe('w+tool-a@1.0.0\n');
    expect(logs).toContain('installed package-lock.json from the store (1 packages)');
    const fromStore = await readdir(join(store, 'airlock', 'v1', 'npm'));

    // installer: npm installs with npm itself: another install, the same tree.
    await writeFile(
      join(dir, 'airlock.yaml'),
      (await readFile(join(dir, 'airlock.yaml'), 'utf8')).replace(
        'npm: { lockfile: package-lock.json }',
        'npm: { lockfile: package-lock.json, installer: npm }',
      ),
    );
    logs.length = 0;
    await runBuild({
      project: dir,
      store,
      targets: [],
      events: (e) => void (e.type === 'log' && logs.push(e.message)),
    });
    expect(logs).toContain('installed package-lock.json offline (1 packages)');
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).toBe('w+tool-a@1.0.0\n');
    const trees = await Promise.all(
      (await readdir(join(store, 'airlock', 'v1', 'npm'))).map(
        async (d) =>
          (
            JSON.parse(
              await readFile(join(store, 'airlock', 'v1', 'npm', d, 'install.json'), 'utf8'),
            ) as { tree: string }
          ).tree,
      ),
    );
    expect(trees).toHaveLength(fromStore.length + 1);
    expect(new Set(trees).size).toBe(1);
  }, 180_000);
});
