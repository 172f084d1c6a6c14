import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../src/pipeline/check.js';
import { registryResolver, runPin } from '../src/pipeline/pin.js';
import { loadConfig } from '../src/config/load.js';
import { registryPlatformResolver, runLock } from '../src/pipeline/lock.js';
import { clientFor } from '../src/pipeline/registry-context.js';
import { ociArch } from '../src/oci/index.js';
import { runPush } from '../src/pipeline/registry-push.js';
import { Store } from '../src/store/index.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { storeArtifact } from './helpers/registry-artifacts.js';

describe('airlock pin through a registry', () => {
  let reg: TestRegistry;
  const work = mkdtempSync(join(tmpdir(), 'airlock-pin-registry-'));
  let pushed = '';

  beforeAll(async () => {
    reg = await startRegistry();
    const store = await Store.open(join(work, 'publisher'));
    await storeArtifact(store, 'base', 1000);
    store.close();
    const report = await runPush({
      store: join(work, 'publisher'),
      insecure: [reg.host],
      source: 'base',
      target: `${reg.host}/team/base:1.0`,
    });
    pushed = report.digest;
  });
  afterAll(async () => {
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('rewrites a FROM tag to the digest the registry serves, and check stops reporting it', async () => {
    const repo = join(work, 'repo');
    mkdirSync(repo);
    writeFileSync(
      join(repo, 'Dockerfile'),
      `# base image\nFROM ${reg.host}/team/base:1.0 AS build\nRUN true\n`,
    );
    const before = await runCheck({ root: repo });
    expect(before.findings.some((f) => f.file === 'Dockerfile' && f.line === 2)).toBe(true);

    const result = await runPin({
      root: repo,
      store: join(work, 'empty-store'),
      resolver: registryResolver({ insecure: [reg.host] }),
    });
    expect(result.unresolved).toEqual([]);
    expect(readFileSync(join(repo, 'Dockerfile'), 'utf8')).toBe(
      `# base image\nFROM ${reg.host}/team/base:1.0@${pushed} AS build\nRUN true\n`,
    );
    const after = await runCheck({ root: repo });
    expect(
      after.findings.filter(
        (f) => f.file === 'Dockerfile' && f.line === 2 && f.ruleId.includes('digest'),
      ),
    ).toEqual([]);
  });

  it("airlock lock records the digest airlock pin wrote for a toolchain image, and an index's platform manifest", async () => {
    const repo = join(work, 'lock-agrees');
    mkdirSync(repo);
    // An index over the pushed manifest, for linux on this machine's architecture.
    const client = await clientFor(reg.host, { insecure: [reg.host] });
    const manifest = await client.getManifest('team/base', pushed);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            ...manifest.descriptor,
            platform: { os: 'linux', architecture: ociArch(process.arch) },
          },
        ],
      }),
    );
    const put = await client.putManifest(
      'team/base',
      'multi',
      index,
      'application/vnd.oci.image.index.v1+json',
    );
    const yaml = (image: string): string =>
      `version: 1\nname: x\ntargets:\n  a: { sources: ["a"], toolchain: { image: "${image}" }, steps: ["true"], outputs: ["o"] }\n  b: { sources: ["a"], toolchain: { image: "${reg.host}/team/base:multi" }, steps: ["true"], outputs: ["p"] }\n`;
    writeFileSync(join(repo, 'airlock.yaml'), yaml(`${reg.host}/team/base:1.0`));
    writeFileSync(join(repo, 'a'), '');
    await runPin({
      root: repo,
      store: join(work, 'empty-store'),
      resolver: registryResolver({ insecure: [reg.host] }),
    });
    const pinned = readFileSync(join(repo, 'airlock.yaml'), 'utf8');
    expect(pinned).toContain(`${reg.host}/team/base:1.0@${pushed}`);
    expect(pinned).toContain(`${reg.host}/team/base:multi@${put.descriptor.digest}`);
    await runLock({
      project: await loadConfig(repo),
      resolver: registryResolver({ insecure: [reg.host] }),
      platformOf: registryPlatformResolver({ insecure: [reg.host] }),
    });
    const lock = JSON.parse(readFileSync(join(repo, 'airlock.lock'), 'utf8')) as {
      images: { ref: string; digest: string; platform?: string; manifest?: string }[];
    };
    expect(lock.images).toEqual([
      { ref: `${reg.host}/team/base:1.0@${pushed}`, digest: pushed },
      {
        ref: `${reg.host}/team/base:multi@${put.descriptor.digest}`,
        digest: put.descriptor.digest,
        platform: `linux/${ociArch(process.arch)}`,
        manifest: pushed,
      },
    ]);
  });

  it('reports a tag the registry does not have as unresolved, with a warning, and writes nothing', async () => {
    const repo = join(work, 'repo2');
    mkdirSync(repo);
    const text = `FROM ${reg.host}/team/base:9.9\n`;
    writeFileSync(join(repo, 'Dockerfile'), text);
    const warnings: string[] = [];
    const events = (e: { type: string; level?: string; message?: string }): void => {
      if (e.type === 'log' && e.level === 'warn' && e.message) warnings.push(e.message);
    };
    const result = await runPin({
      root: repo,
      store: join(work, 'empty-store'),
      resolver: registryResolver({ insecure: [reg.host], events, retries: 0 }),
      events,
    });
    expect(result.unresolved).toEqual([
      { path: 'Dockerfile', ref: `${reg.host}/team/base:9.9`, reason: expect.any(String) },
    ]);
    expect(warnings.some((w) => w.includes('team/base:9.9'))).toBe(true);
    expect(readFileSync(join(repo, 'Dockerfile'), 'utf8')).toBe(text);
  });
});
