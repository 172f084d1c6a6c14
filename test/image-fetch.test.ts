import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { digestHex, type Digest } from '../src/core/digest.js';
import { noEvents } from '../src/core/events.js';
import { runBuild } from '../src/pipeline/build.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { registryResolver } from '../src/pipeline/pin.js';
import { registryPlatformResolver, runLock } from '../src/pipeline/lock.js';
import { clientFor } from '../src/pipeline/registry-context.js';
import { Store } from '../src/store/index.js';
import {
  startRegistry,
  startTcpProxy,
  type TcpProxy,
  type TestRegistry,
} from './helpers/registry.js';
import { pushToolchainImage, toolchainEntries } from './helpers/rootfs.js';

// The real Debian docker-registry, reached through a TCP proxy the test can take away.
let reg: TestRegistry;
let proxy: TcpProxy;
let work: string;
let image: { digest: Digest; layers: Digest[] };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-image-fetch-'));
  reg = await startRegistry();
  proxy = await startTcpProxy(reg.port);
  const publisher = await Store.open(join(work, 'publisher'));
  try {
    const client = await clientFor(reg.host, { insecure: [reg.host] });
    const pushed = await pushToolchainImage(
      publisher,
      client,
      'tools/busybox',
      [toolchainEntries()],
      '1.0',
    );
    const manifest = JSON.parse((await publisher.getBytes(pushed.digest)).toString('utf8')) as {
      layers: { digest: Digest }[];
      config: { digest: Digest };
    };
    image = {
      digest: pushed.digest,
      layers: [manifest.config.digest, ...manifest.layers.map((l) => l.digest)],
    };
  } finally {
    publisher.close();
  }
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('airlock fetch of a locked image from a registry', () => {
  it('pulls the manifest, config and layers verified into the store and unpacks the root; then builds and fetches again with the registry gone', async () => {
    const dir = join(work, 'app');
    const store = join(work, 'store');
    await mkdir(dir, { recursive: true });
    const ref = `${proxy.host}/tools/busybox:1.0@${image.digest}`;
    await writeFile(
      join(dir, 'airlock.yaml'),
      `version: 1\nname: img\nsourceDateEpoch: 1700000000\ntargets:\n  app:\n    sources: ["airlock.yaml"]\n    toolchain: { image: "${ref}" }\n    steps: ["mkdir -p out && echo built > out/r.txt && ls /usr/bin/busybox >> out/r.txt"]\n    outputs: ["out/**"]\n`,
    );
    const insecure = [proxy.host];
    await runLock({
      project: await loadConfig(dir),
      resolver: registryResolver({ insecure }),
      platformOf: registryPlatformResolver({ insecure }),
    });
    const lock = JSON.parse(await readFile(join(dir, 'airlock.lock'), 'utf8')) as {
      images: { ref: string; digest: string }[];
    };
    expect(lock.images).toEqual([{ ref, digest: image.digest }]);

    const first = await runFetch({ project: await loadConfig(dir), store, insecure });
    expect(first.images).toBe(1);
    const s = await Store.open(store);
    try {
      for (const d of [image.digest, ...image.layers]) expect(await s.has(d)).toBe(true);
    } finally {
      s.close();
    }
    expect(
      existsSync(join(store, 'airlock', 'v1', 'roots', digestHex(image.digest), 'rootfs')),
    ).toBe(true);

    // The registry is unreachable from here on: fetch has nothing to download, the build runs offline.
    await proxy.stop();
    const second = await runFetch({ project: await loadConfig(dir), store, insecure });
    expect(second.downloaded).toEqual({ count: 0, bytes: 0 });
    const built = await runBuild({ project: dir, store, targets: [], events: noEvents });
    expect(built.targets[0]?.cached).toBe(false);
    expect(await readFile(join(dir, 'out', 'r.txt'), 'utf8')).toBe('built\n/usr/bin/busybox\n');
  }, 120_000);

  it('fails naming the image when the registry does not have the locked digest, storing nothing', async () => {
    const dir = join(work, 'missing');
    const store = join(work, 'store-missing');
    await mkdir(dir, { recursive: true });
    const absent = `sha256:${'0'.repeat(63)}1` as Digest;
    const ref = `${reg.host}/tools/busybox:1.0@${absent}`;
    await writeFile(
      join(dir, 'airlock.yaml'),
      `version: 1\nname: img\ntargets:\n  app:\n    sources: ["airlock.yaml"]\n    toolchain: { image: "${ref}" }\n    steps: ["true"]\n    outputs: ["out/**"]\n`,
    );
    await writeFile(
      join(dir, 'airlock.lock'),
      `{\n"format": "airlock.lock/v1",\n"files": [],\n"images": [\n{"digest":"${absent}","ref":"${ref}"}\n],\n"npm": []\n}\n`,
    );
    const err = await runFetch({
      project: await loadConfig(dir),
      store,
      insecure: [reg.host],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'REGISTRY_NOT_FOUND',
      message: expect.stringContaining(`tools/busybox@${absent}`),
    });
    expect(existsSync(join(store, 'airlock', 'v1', 'roots', digestHex(absent)))).toBe(false);
  }, 60_000);
});
