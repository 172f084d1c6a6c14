// A real docker-registry as the remote action cache shared by "machines"
// (each its own store and copy of the project): a builder that publishes
// signed entries and readers that trust its key.
import { snapshotTree } from './helpers/cli.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionResult } from '../src/builder/action.js';
import { digestHex, type AirlockEvent, type Digest } from '../src/core/index.js';
import { runBuild, type BuildReport } from '../src/pipeline/build.js';
import { runKeygen } from '../src/pipeline/keygen.js';
import { cacheTag } from '../src/builder/remote-cache.js';
import { RegistryClient } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { startRegistry, tempDir, type TestRegistry } from './helpers/registry.js';

/** The config of a builder (publishes signed entries) or a reader (trusts the builder's key). */
const YAML = (step: string, cache: string): string =>
  [
    'version: 1',
    'name: rc',
    'sourceDateEpoch: 1700000000',
    cache,
    'targets:',
    '  app:',
    '    sources: ["src/**"]',
    '    outputs: ["out/**"]',
    '    steps:',
    `      - ${JSON.stringify(step)}`,
    '',
  ].join('\n');

const STEP =
  'mkdir -p out/sub && cat src/a.txt > out/a.txt && echo built >> out/a.txt && printf "\\001\\002" > out/sub/bin && chmod 755 out/sub/bin';

describe('the registry as remote action cache', () => {
  let registry: TestRegistry;
  let dir: string;
  let remote: string;
  let stopped = false;
  let first: BuildReport;

  /** A machine: its own copy of the project and its own store; returns the report and what happened. */
  const machine = async (
    name: string,
    step = STEP,
    role: 'builder' | 'reader' = 'reader',
  ): Promise<{ report: BuildReport; steps: number; warnings: string[]; project: string }> => {
    const project = join(dir, name, 'project');
    await mkdir(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.txt'), 'same source\n');
    const keys = join(dir, 'keys');
    const cache =
      role === 'builder'
        ? `cache: { remote: { repository: "${remote}", mode: readwrite, signingKey: "${keys}/cosign.key", trust: ["${keys}/cosign.pub"] } }`
        : `cache: { remote: { repository: "${remote}", trust: ["${keys}/cosign.pub"] } }`;
    writeFileSync(join(project, 'airlock.yaml'), YAML(step, cache));
    const events: AirlockEvent[] = [];
    const report = await runBuild({
      project,
      store: join(dir, name, 'store'),
      targets: [],
      insecure: [registry.host],
      registry: { retries: 0, env: { AIRLOCK_PASSWORD: 'builder password' } },
      events: (e) => void events.push(e),
    });
    return {
      report,
      project,
      steps: events.filter((e) => e.type === 'step').length,
      // The plain-http warning is expected (the test registry is insecure); anything else is news.
      warnings: events.flatMap((e) =>
        e.type === 'log' && e.level === 'warn' && !e.message.includes('marked insecure')
          ? [e.message]
          : [],
      ),
    };
  };

  /** The stored result of machine `name`'s build of `key`. */
  const resultOf = async (name: string, key: Digest): Promise<ActionResult> => {
    const store = await Store.open(join(dir, name, 'store'));
    try {
      const entry = await store.getAction(key);
      return await store.getJson<ActionResult>(entry!.result);
    } finally {
      store.close();
    }
  };

  beforeAll(async () => {
    registry = await startRegistry();
    dir = await tempDir('remote-cache');
    remote = `${registry.host}/team/cache`;
    await mkdir(join(dir, 'keys'));
    await runKeygen({ dir: join(dir, 'keys'), password: 'builder password' });
    const a = await machine('a', STEP, 'builder');
    first = a.report;
    expect(a.steps).toBe(1);
    expect(a.warnings).toEqual([]);
  });
  afterAll(async () => {
    if (!stopped) await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('publishes the result under a tag named by the action key, signed, with key and result recorded and without step logs', async () => {
    const key = first.targets[0]!.actionKey as Digest;
    const client = new RegistryClient(registry.host, { insecure: [registry.host] });
    expect(await client.listTags('team/cache')).toEqual([cacheTag(key)]);
    const entry = await client.getManifest('team/cache', cacheTag(key));
    expect(entry.descriptor.annotations?.['dev.airlock.action-key']).toBe(key);
    const result = await resultOf('a', key);
    expect(entry.descriptor.annotations?.['dev.airlock.result']).toBeDefined();
    if (entry.manifest.kind !== 'manifest') throw new Error('not a manifest');
    const digests = entry.manifest.layers.map((l) => l.digest);
    expect(digests).toContain(result.outputs.layer.digest);
    // Step logs stay on the builder unless cache.remote.publishLogs asks for them.
    expect(result.logs.length).toBeGreaterThan(0);
    for (const l of result.logs) {
      expect(digests).not.toContain(l.stdout);
      expect(digests).not.toContain(l.stderr);
    }
    expect(entry.manifest.layers.map((l) => l.mediaType)).toContain(
      'application/vnd.airlock.cache-signature.v1+json',
    );
  });

  it('gives a second machine a remote hit: no step runs and the outputs are bit-identical', async () => {
    const b = await machine('b');
    expect(b.report.targets[0]).toMatchObject({
      cached: true,
      actionKey: first.targets[0]!.actionKey,
      artifact: first.targets[0]!.artifact,
      outputTree: first.targets[0]!.outputTree,
    });
    expect(b.steps).toBe(0);
    expect(b.warnings).toEqual([]);
    expect(snapshotTree(join(b.project, 'out'))).toEqual(
      snapshotTree(join(dir, 'a', 'project', 'out')),
    );
  });

  it('refuses an entry that records another action key, and builds', async () => {
    const other = 'echo other > /dev/null; ' + STEP;
    // Plant machine a's entry under the tag of the other step's key.
    const probe = await machine('probe-key', other, 'builder'); // builds and publishes its own entry
    const otherKey = probe.report.targets[0]!.actionKey as Digest;
    const client = new RegistryClient(registry.host, { insecure: [registry.host] });
    const planted = await client.getManifest(
      'team/cache',
      cacheTag(first.targets[0]!.actionKey as Digest),
    );
    await client.putManifest(
      'team/cache',
      cacheTag(otherKey),
      planted.bytes,
      planted.descriptor.mediaType,
    );
    const c = await machine('c', other);
    expect(c.report.targets[0]).toMatchObject({ cached: false, actionKey: otherKey });
    expect(c.steps).toBe(1);
    expect(c.warnings.join('\n')).toContain(`records action key ${first.targets[0]!.actionKey}`);
  });

  it('falls back to building when a blob in the registry was tampered with', async () => {
    const key = first.targets[0]!.actionKey as Digest;
    const layer = (await resultOf('a', key)).outputs.layer.digest;
    const hex = digestHex(layer);
    const file = join(
      registry.root,
      'data/docker/registry/v2/blobs/sha256',
      hex.slice(0, 2),
      hex,
      'data',
    );
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    writeFileSync(file, bytes);
    const d = await machine('d');
    expect(d.report.targets[0]).toMatchObject({ cached: false, actionKey: key });
    expect(d.steps).toBe(1);
    expect(d.warnings.join('\n')).toMatch(/remote cache/);
    expect(snapshotTree(join(d.project, 'out'))).toEqual(
      snapshotTree(join(dir, 'a', 'project', 'out')),
    );
  });

  it('builds with a warning when the registry is down', async () => {
    await registry.stop();
    stopped = true;
    const e = await machine('e');
    expect(e.report.targets[0]).toMatchObject({ cached: false });
    expect(e.steps).toBe(1);
    expect(e.warnings.join('\n')).toContain('unreachable');
    expect(readFileSync(join(e.project, 'out', 'a.txt'), 'utf8')).toBe('same source\nbuilt\n');
  });
});
