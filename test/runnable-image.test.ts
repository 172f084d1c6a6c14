// Runnable images: a target layered on a base image pinned by digest gives a
// normal OCI image (base layers + the target's layer, config merged) that is
// deterministic and that skopeo and podman accept and run.
import { execFileSync } from 'node:child_process';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../src/core/index.js';
import { loadConfig } from '../src/config/load.js';
import { runBuild } from '../src/pipeline/build.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { runLock } from '../src/pipeline/lock.js';
import { runPush } from '../src/pipeline/registry-push.js';
import { RegistryClient } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { freePort, startRegistry, tempDir, type TestRegistry } from './helpers/registry.js';
import { pushBaseImage, serviceProject } from './helpers/service.js';
import { podmanArgs, removeImages, requirePodman } from './helpers/podman.js';

interface Manifest {
  config: { digest: Digest };
  layers: { digest: Digest; mediaType: string }[];
}

describe('a target with image.base', () => {
  let registry: TestRegistry;
  let dir: string;
  let base: string;
  let baseManifest: Manifest;
  const containers: string[] = [];

  beforeAll(async () => {
    requirePodman();
    registry = await startRegistry();
    dir = await tempDir('runnable-image');
    const publisher = await Store.open(join(dir, 'publisher'));
    try {
      const client = new RegistryClient(registry.host, { insecure: [registry.host] });
      const digest = await pushBaseImage(publisher, client);
      base = `${registry.host}/base/node@${digest}`;
      baseManifest = JSON.parse((await publisher.getBytes(digest)).toString()) as Manifest;
    } finally {
      publisher.close();
    }
  }, 120_000);
  afterAll(async () => {
    for (const c of containers)
      execFileSync('podman', ['rm', '-f', '-t', '0', c], { stdio: 'ignore' });
    if (registry) removeImages([registry.host]);
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Runs `ref` with podman from the registry (PORT set) and returns its first answer to `path`. */
  const runFromRegistry = async (ref: string, path: string) => {
    const port = await freePort();
    const name = `airlock-test-image-${port}`;
    containers.push(name);
    execFileSync(
      'podman',
      podmanArgs([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'host',
        '--tls-verify=false',
        '-e',
        `PORT=${port}`,
        ref,
      ]),
      { stdio: 'pipe' },
    );
    let body = '';
    for (let i = 0; i < 100 && body === ''; i++) {
      body = await fetch(`http://127.0.0.1:${port}${path}`)
        .then((r) => r.text())
        .catch(() => '');
      if (body === '') await new Promise((r) => setTimeout(r, 100));
    }
    return { name, body };
  };

  const build = async (name: string) => {
    const root = serviceProject(join(dir, name), base, { version: 'one' });
    const report = await runBuild({
      project: root,
      store: join(dir, `store-${name}`),
      targets: ['service'],
      insecure: [registry.host],
      events: () => {},
    });
    const t = report.targets.find((x) => x.name === 'service')!;
    const store = await Store.open(join(dir, `store-${name}`));
    try {
      const manifest = JSON.parse(
        (await store.getBytes(t.artifact as Digest)).toString(),
      ) as Manifest;
      const config = JSON.parse((await store.getBytes(manifest.config.digest)).toString()) as {
        config: { Env?: string[]; Entrypoint?: string[] };
        rootfs: { diff_ids: string[] };
        history: unknown[];
      };
      return {
        artifact: t.artifact as Digest,
        manifest,
        config,
        store: join(dir, `store-${name}`),
      };
    } finally {
      store.close();
    }
  };

  it('puts the base layers first and its own layer last, with the config merged', async () => {
    const a = await build('a');
    expect(a.manifest.layers.slice(0, -1).map((l) => l.digest)).toEqual(
      baseManifest.layers.map((l) => l.digest),
    );
    expect(a.manifest.layers).toHaveLength(baseManifest.layers.length + 1);
    expect(a.config.rootfs.diff_ids).toHaveLength(baseManifest.layers.length + 1);
    expect(a.config.config.Entrypoint).toEqual(['node', '/out/app/server.js']);
    expect(a.config.config.Env).toEqual(['PORT=8080', 'HOST=127.0.0.1']);
  }, 120_000);

  it('gives the same digest from another store, and skopeo and podman run it from a registry', async () => {
    const a = await build('a');
    const b = await build('b');
    expect(b.artifact).toBe(a.artifact);

    const pushed = await runPush({
      source: a.artifact,
      target: `${registry.host}/app/service:one`,
      store: a.store,
      insecure: [registry.host],
      events: () => {},
    });
    expect(pushed.digest).toBe(a.artifact);
    const inspect = JSON.parse(
      execFileSync(
        'skopeo',
        ['inspect', '--tls-verify=false', `docker://${registry.host}/app/service@${a.artifact}`],
        { encoding: 'utf8' },
      ),
    ) as { Digest: string; Layers: string[] };
    expect(inspect.Digest).toBe(a.artifact);
    expect(inspect.Layers).toHaveLength(a.manifest.layers.length);

    const { name, body } = await runFromRegistry(`${registry.host}/app/service@${a.artifact}`, '/');
    expect(body).toBe('one\n');
    const running = execFileSync('podman', ['inspect', '--format', '{{.ImageDigest}}', name], {
      encoding: 'utf8',
    }).trim();
    expect(running).toBe(a.artifact);
  }, 180_000);

  it('runs the TypeScript example service as an image on that base: its npm dependencies locked, fetched and installed offline, the base recorded in airlock.lock', async (ctx) => {
    // The example's dependencies come from the public npm registry (the one network this machine has).
    const reachable = await fetch('https://registry.npmjs.org/ms', {
      signal: AbortSignal.timeout(10_000),
    })
      .then(async (r) => (await r.body?.cancel(), r.ok))
      .catch(() => false);
    if (!reachable) {
      ctx.skip('registry.npmjs.org is unreachable: the TypeScript service cannot be fetched');
      return;
    }
    const root = join(dir, 'ts-service');
    await cp(resolve(import.meta.dirname, '..', 'examples', 'ts-service'), root, {
      recursive: true,
      filter: (src) => !/\/(dist|node_modules)$/.test(src),
    });
    const yamlFile = join(root, 'airlock.yaml');
    const yaml = await readFile(yamlFile, 'utf8');
    expect(yaml).toContain('    image:\n');
    await writeFile(yamlFile, yaml.replace('    image:\n', `    image:\n      base: '${base}'\n`));
    const project = await loadConfig(root);
    // The committed lock lacks the base: lock --check names it, `lock` records it.
    await expect(runLock({ project, check: true })).rejects.toMatchObject({ code: 'LOCK_STALE' });
    await runLock({ project });
    expect(await readFile(join(root, 'airlock.lock'), 'utf8')).toContain(`"ref":"${base}"`);
    const store = join(dir, 'store-ts');
    await runFetch({ project: await loadConfig(root), store, insecure: [registry.host] });
    const report = await runBuild({
      project: root,
      store,
      targets: ['service'],
      frozen: true,
      insecure: [registry.host],
      events: () => {},
    });
    const artifact = report.targets.find((x) => x.name === 'service')!.artifact as Digest;
    await runPush({
      source: artifact,
      target: `${registry.host}/app/ts-service:one`,
      store,
      insecure: [registry.host],
      events: () => {},
    });
    const { name, body } = await runFromRegistry(
      `${registry.host}/app/ts-service@${artifact}`,
      '/?name=image',
    );
    expect(body).toContain('<p>Hello, image! Up for');
    expect(
      execFileSync('podman', ['inspect', '--format', '{{.ImageDigest}}', name], {
        encoding: 'utf8',
      }).trim(),
    ).toBe(artifact);
  }, 240_000);
});
