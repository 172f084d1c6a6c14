// A real toolchain image (static busybox + the host node and
// the libraries ldd lists) pushed to a real docker-registry, used as the
// sandbox root of a build.
import { appendFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildRecord } from '../src/builder/action.js';
import { BuildRecords } from '../src/builder/records.js';
import type { AirlockEvent } from '../src/core/index.js';
import { registryHooks } from '../src/pipeline/build-remote.js';
import { runBuild } from '../src/pipeline/build.js';
import { runSbom } from '../src/pipeline/evidence.js';
import { runFsck } from '../src/pipeline/store.js';
import { RegistryClient, imageRootDir } from '../src/registry/index.js';
import { Store, storePaths } from '../src/store/index.js';
import { startRegistry, tempDir, type TestRegistry } from './helpers/registry.js';
import { pushToolchainImage, toolchainEntries } from './helpers/rootfs.js';

describe('a target whose toolchain is an OCI image', () => {
  let registry: TestRegistry;
  let dir: string;
  let ref: string;
  let digest: `sha256:${string}`;
  let stopped = false;
  const events: AirlockEvent[] = [];
  const sink = (e: AirlockEvent): void => void events.push(e);
  const logs = (): string[] =>
    events.flatMap((e) => (e.type === 'log' ? [`${e.level}: ${e.message}`] : []));

  beforeAll(async () => {
    registry = await startRegistry();
    dir = await tempDir('oci-toolchain');
    // The "publisher" pushes from its own store; the builder starts empty.
    const publisher = await Store.open(join(dir, 'publisher'));
    try {
      const client = new RegistryClient(registry.host, { insecure: [registry.host] });
      const empty = join(dir, 'empty');
      writeFileSync(empty, '');
      const status = join(dir, 'dpkg-status');
      writeFileSync(
        status,
        [
          'Package: busybox-static',
          'Status: install ok installed',
          'Architecture: amd64',
          'Version: 1:1.36.1-9',
          'Description: a description',
          ' spanning lines',
          '',
          'Package: libc6',
          'Status: install ok installed',
          'Architecture: amd64',
          'Version: 2.36-9+deb12u7',
          '',
          'Package: removed-one',
          'Status: deinstall ok config-files',
          'Architecture: amd64',
          'Version: 1.0',
          '',
        ].join('\n'),
      );
      const image = await pushToolchainImage(publisher, client, 'toolchain/node', [
        [
          ...toolchainEntries({ node: true }),
          { path: 'etc/stale', kind: 'file', absPath: empty, executable: false },
        ],
        [
          { path: 'etc/.wh.stale', kind: 'file', absPath: empty, executable: false },
          { path: 'usr/bin/nodejs', kind: 'symlink', target: 'node' },
          { path: 'var/lib/dpkg/status', kind: 'file', absPath: status, executable: false },
        ],
      ]);
      digest = image.digest;
      ref = `${registry.host}/toolchain/node@${digest}`;
    } finally {
      publisher.close();
    }
  });
  afterAll(async () => {
    if (!stopped) await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const project = (steps: string[], image = ref): string => {
    const root = join(dir, 'project');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'src.txt'), 'from the source\n');
    writeFileSync(
      join(root, 'airlock.yaml'),
      [
        'version: 1',
        'name: tc',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  app:',
        '    sources: [src.txt]',
        `    toolchain: { image: "${image}" }`,
        '    outputs: ["out/**"]',
        '    steps:',
        ...steps.map((s) => `      - ${JSON.stringify(s)}`),
        '',
      ].join('\n'),
    );
    return root;
  };

  const build = (root: string) =>
    runBuild({
      project: root,
      store: join(dir, 'builder'),
      targets: [],
      insecure: [registry.host],
      events: sink,
    });

  it('runs node and busybox from the image, and the host /usr is not visible', async () => {
    const root = project([
      'mkdir -p out',
      "node -e \"const fs=require('fs'); fs.writeFileSync('out/node.txt', process.version + ' ' + fs.readFileSync('src.txt','utf8'))\"",
      "busybox sh -c 'test ! -e /usr/bin/gcc && test ! -e /usr/bin/bwrap && test ! -e /etc/stale && nodejs -e 0 && echo isolated > out/sh.txt'",
    ]);
    const report = await build(root);
    expect(report.targets[0]).toMatchObject({ name: 'app', cached: false });
    expect(readFileSync(join(root, 'out/node.txt'), 'utf8')).toBe(
      `${process.version} from the source\n`,
    );
    expect(readFileSync(join(root, 'out/sh.txt'), 'utf8')).toBe('isolated\n');
    expect(logs().some((l) => l.includes(`unpacked toolchain image ${ref}`))).toBe(true);
  });

  it('records the image manifest digest as the toolchain of the action', async () => {
    const root = project(['mkdir -p out', 'echo hi > out/x']);
    await build(root);
    const store = await Store.open(join(dir, 'builder'));
    const records = new BuildRecords(store.paths.buildDb);
    try {
      const last = records.lastBuild(root, 'app');
      const record = await store.getJson<BuildRecord>(last!.record);
      expect(record.action.toolchain).toEqual([{ name: 'image', digest }]);
      expect(statSync(join(imageRootDir(store.paths.roots, digest), 'root.json')).isFile()).toBe(
        true,
      );
      // The pulled image is tagged, so `store gc` keeps it.
      const tags = await store.listTags();
      expect(
        tags.filter((t) => t.name.startsWith('airlock-toolchain/')).map((t) => t.descriptor.digest),
      ).toEqual([digest]);
    } finally {
      records.close();
      store.close();
    }
  });

  it("lists the Debian packages of the image's dpkg status in its SBOM as pkg:deb components", async () => {
    const root = project(['mkdir -p out', 'echo deb > out/x']);
    await build(root);
    const { sbom } = await runSbom({
      project: root,
      store: join(dir, 'builder'),
      target: 'app',
      format: 'cyclonedx',
      events: sink,
    });
    const bom = JSON.parse(sbom) as {
      components: { 'bom-ref': string; name: string; purl?: string }[];
      dependencies: { ref: string; dependsOn?: string[] }[];
    };
    const debs = bom.components.filter((c) => c.purl?.startsWith('pkg:deb/'));
    expect(debs.map((c) => c.purl)).toEqual([
      'pkg:deb/debian/busybox-static@1%3A1.36.1-9?arch=amd64',
      'pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64',
    ]);
    const image = bom.components.find((c) => c.purl?.startsWith('pkg:oci/'))!;
    expect(image.name).toBe(`${registry.host}/toolchain/node`);
    expect(bom.dependencies.find((d) => d.ref === image['bom-ref'])?.dependsOn).toEqual(
      debs.map((c) => c['bom-ref']),
    );
  });

  it('re-uses the unpacked root on the next build, even with the registry down', async () => {
    const rootJson = join(
      imageRootDir(storePaths(join(dir, 'builder')).roots, digest),
      'root.json',
    );
    const before = statSync(rootJson);
    const root = project([
      'mkdir -p out',
      "node -e \"require('fs').writeFileSync('out/again', '1')\"",
    ]);
    events.length = 0;
    await registry.stop();
    stopped = true;
    const report = await build(root);
    expect(report.targets[0]).toMatchObject({ cached: false });
    expect(readFileSync(join(root, 'out/again'), 'utf8')).toBe('1');
    expect(logs().filter((l) => l.includes('toolchain image'))).toEqual([]);
    expect(statSync(rootJson).ino).toBe(before.ino);
  });

  it('finds an edited file in the unpacked root: fsck reports it, the next build unpacks it again', async () => {
    const store = join(dir, 'builder');
    const rootfs = join(imageRootDir(storePaths(store).roots, digest), 'rootfs');
    const victim = 'usr/bin/busybox';
    const original = readFileSync(join(rootfs, victim));
    appendFileSync(join(rootfs, victim), 'tampered');

    const report = await runFsck({ store, repair: false });
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ kind: 'damaged-root', severity: 'error', repaired: false }),
    );

    events.length = 0;
    const root = project(['mkdir -p out', 'busybox echo rebuilt > out/r']);
    await build(root);
    expect(logs().some((l) => l.includes('was altered') && l.includes('unpacking it again'))).toBe(
      true,
    );
    expect(readFileSync(join(rootfs, victim)).equals(original)).toBe(true);
    expect((await runFsck({ store, repair: false })).problems.map((p) => p.kind)).not.toContain(
      'damaged-root',
    );
  });

  it('refuses a tag-only image with the pin hint, in the config and in the resolver', async () => {
    const root = project(['true'], `${registry.host}/toolchain/node:latest`);
    const err = await build(root).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain('not pinned by digest');
    expect(err?.message).toContain('airlock pin');
    const store = await Store.open(join(dir, 'builder'));
    try {
      const hooks = await registryHooks(
        { file: join(root, 'airlock.yaml'), root, name: 'tc', targets: new Map() },
        store,
        {},
        sink,
      );
      await expect(hooks.imageRoots.resolve('r.example/t/n:1')).rejects.toMatchObject({
        code: 'TOOLCHAIN_IMAGE_UNPINNED',
        hint: expect.stringContaining('airlock pin') as unknown,
      });
    } finally {
      store.close();
    }
  });
});
