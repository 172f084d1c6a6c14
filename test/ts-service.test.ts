import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { noEvents } from '../src/core/events.js';
import { StatCache } from '../src/hash/stat-cache.js';
import { runBuild } from '../src/pipeline/build.js';
import { runCheck } from '../src/pipeline/check.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { runLock } from '../src/pipeline/lock.js';
import { treeOf } from '../src/pipeline/npm-install.js';
import { runRepro } from '../src/pipeline/repro.js';
import { npmEnv } from './helpers/verdaccio.js';

const exec = promisify(execFile);
const EXAMPLE = resolve(import.meta.dirname, '..', 'examples', 'ts-service');

/** Whether the public npm registry answers; the reason when it does not. */
async function registryUnreachable(): Promise<string | undefined> {
  try {
    const res = await fetch('https://registry.npmjs.org/ms', {
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel();
    return res.ok ? undefined : `registry.npmjs.org answered HTTP ${res.status}`;
  } catch (err) {
    return `registry.npmjs.org is unreachable (${err instanceof Error ? err.message : String(err)})`;
  }
}

let work: string;
let offline: string | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-ts-service-'));
  offline = await registryUnreachable();
  // Never silent: the reason is printed, and the test below says it was skipped.
  if (offline) console.warn(`examples/ts-service tests skipped: ${offline}`);
}, 30_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('examples/ts-service', () => {
  it('has a current airlock.lock (lock --check, offline) and check finds nothing unlocked', async () => {
    const report = await runCheck({ root: EXAMPLE });
    expect(report.findings.map((f) => f.ruleId)).toEqual(['airlock/host-toolchain']);
    await expect(
      runLock({ project: await loadConfig(EXAMPLE), check: true }),
    ).resolves.toMatchObject({
      differences: [],
    });
  });

  it('fetches from the public registry, builds offline in the sandbox, equals an online npm ci, and reproduces', async (ctx) => {
    if (offline) {
      ctx.skip(`public npm registry unreachable: ${offline}`);
      return;
    }
    const dir = join(work, 'ts-service');
    const store = join(work, 'store');
    await cp(EXAMPLE, dir, {
      recursive: true,
      filter: (src) => !/\/(dist|node_modules)$/.test(src),
    });
    await exec('git', ['init', '-q'], { cwd: dir });
    await exec('git', ['add', '.'], { cwd: dir });
    await exec(
      'git',
      [
        '-c',
        'user.name=t',
        '-c',
        'user.email=t@e',
        'commit',
        '-qm',
        'x',
        '--date',
        '2024-01-01T00:00:00Z',
      ],
      {
        cwd: dir,
        env: { ...process.env, GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z' },
      },
    );
    const fetched = await runFetch({ project: await loadConfig(dir), store });
    expect(fetched.downloaded.count).toBe(7);
    const built = await runBuild({
      project: dir,
      store,
      targets: [],
      events: noEvents,
      frozen: true,
    });
    expect(built.targets[0]?.name).toBe('service');
    expect(await readdir(join(dir, 'dist'))).toEqual([
      'greet.js',
      'greet.test.js',
      'node_modules',
      'server.js',
    ]);
    expect(await readdir(join(dir, 'dist', 'node_modules'))).toEqual(['escape-html', 'ms']);

    // The sandboxed offline install equals `npm ci` run online for the same lock.
    const installs = await readdir(join(store, 'airlock', 'v1', 'npm'));
    expect(installs).toHaveLength(1);
    const { tree } = JSON.parse(
      await readFile(join(store, 'airlock', 'v1', 'npm', installs[0]!, 'install.json'), 'utf8'),
    ) as { tree: string };
    const online = join(work, 'online');
    await mkdir(online);
    await cp(join(EXAMPLE, 'package.json'), join(online, 'package.json'));
    await cp(join(EXAMPLE, 'package-lock.json'), join(online, 'package-lock.json'));
    await exec(
      'npm',
      [
        'ci',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--userconfig',
        '/dev/null',
        '--cache',
        join(work, 'npm-cache'),
      ],
      {
        cwd: online,
        env: npmEnv(),
      },
    );
    const stat = StatCache.memory();
    try {
      expect(await treeOf(join(online, 'node_modules'), stat)).toBe(tree);
    } finally {
      stat.close();
    }

    const repro = await runRepro({
      project: dir,
      store,
      target: 'service',
      events: noEvents,
      diffoscope: false,
    });
    expect(repro.reproducible).toBe(true);
  }, 300_000);
});
