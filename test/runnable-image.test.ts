// Runnable images: a target layered on a base image pinned by digest gives a
// normal OCI image (base layers + the target's layer, config merged) that is
// deterministic and that skopeo and podman accept and run.
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../src/core/index.js';
import { runBuild } from '../src/pipeline/build.js';
import { runPush } from '../src/pipeline/registry-push.js';
import { RegistryClient } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { freePort, startRegistry, tempDir, type TestRegistry } from './helpers/registry.js';
import { pushBaseImage, serviceProject } from './helpers/service.js';
import { podmanArgs, requirePodman } from './helpers/podman.js';

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
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

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
        `${registry.host}/app/service@${a.artifact}`,
      ]),
      { stdio: 'pipe' },
    );
    let body = '';
    for (let i = 0; i < 100 && body === ''; i++) {
      body = await fetch(`http://127.0.0.1:${port}/`)
        .then((r) => r.text())
        .catch(() => '');
      if (body === '') await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toBe('one\n');
    const running = execFileSync('podman', ['inspect', '--format', '{{.ImageDigest}}', name], {
      encoding: 'utf8',
    }).trim();
    expect(running).toBe(a.artifact);
  }, 180_000);
});
