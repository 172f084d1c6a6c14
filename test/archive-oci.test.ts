// packTarGz output as an OCI image layer: umoci and skopeo must read it.
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packTarGz, type PackEntry } from '../src/archive/index.js';
import { canonicalJson, digestHex, sha256, type Digest } from '../src/core/index.js';
import { archiveTempDir, cleanup } from './helpers/archive.js';

async function putBlob(
  layout: string,
  data: Buffer | string,
): Promise<{ digest: Digest; size: number }> {
  const digest = sha256(data);
  await writeFile(join(layout, 'blobs', 'sha256', digestHex(digest)), data);
  return { digest, size: Buffer.byteLength(data) };
}

describe('a packTarGz archive as an OCI image layer', () => {
  let dir: string;
  let layout: string;
  let layerDigest: Digest;

  beforeAll(async () => {
    dir = await archiveTempDir('oci');
    layout = join(dir, 'layout');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'run'), '#!/bin/sh\necho ok\n');
    await writeFile(join(dir, 'src', 'data'), 'data\n');
    const entries: PackEntry[] = [
      { path: 'app/bin/run', kind: 'file', absPath: join(dir, 'src', 'run'), executable: true },
      { path: 'app/data.txt', kind: 'file', absPath: join(dir, 'src', 'data'), executable: false },
      { path: 'app/current', kind: 'symlink', target: 'bin/run' },
    ];
    const { stream, result } = packTarGz(entries, { mtime: 1700000000 });
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c);
    const layer = await putBlob(layout, Buffer.concat(parts));
    layerDigest = layer.digest;
    const { diffId } = await result;
    const config = await putBlob(
      layout,
      canonicalJson({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [diffId] },
      }),
    );
    const manifest = await putBlob(
      layout,
      canonicalJson({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    );
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(
      join(layout, 'index.json'),
      canonicalJson({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: { 'org.opencontainers.image.ref.name': 'v1' },
          },
        ],
      }),
    );
  });
  afterAll(async () => cleanup(dir));

  it('is unpacked by umoci with the packed files, modes and links', async () => {
    const bundle = join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:v1`, bundle], { stdio: 'pipe' });
    const rootfs = join(bundle, 'rootfs');
    expect(await readFile(join(rootfs, 'app', 'data.txt'), 'utf8')).toBe('data\n');
    expect((await lstat(join(rootfs, 'app', 'bin', 'run'))).mode & 0o7777).toBe(0o755);
    expect((await lstat(join(rootfs, 'app', 'data.txt'))).mode & 0o7777).toBe(0o644);
    expect(await readlink(join(rootfs, 'app', 'current'))).toBe('bin/run');
    expect((await lstat(join(rootfs, 'app', 'data.txt'))).mtimeMs).toBe(1700000000_000);
  });

  it('is copied by skopeo, which verifies every blob digest', () => {
    const out = join(dir, 'copy');
    execFileSync('skopeo', ['copy', `oci:${layout}:v1`, `oci:${out}:v1`], { stdio: 'pipe' });
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', `oci:${out}:v1`], { encoding: 'utf8' }),
    ) as { Layers: string[] };
    expect(inspected.Layers).toHaveLength(1);
    expect(inspected.Layers).toEqual([layerDigest]);
  });
});
