import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import type { Descriptor } from '../../src/oci/index.js';
import type { Store } from '../../src/store/index.js';

/** A fresh directory under the OS temp dir; remove it with `rm(dir, {recursive: true})`. */
export async function makeTempDir(prefix = 'airlock-store-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Flips one bit of a (read-only) file in place, leaving its size unchanged. */
export async function flipByte(path: string, offset = 0): Promise<void> {
  const data = await readFile(path);
  data[offset] = (data[offset] ?? 0) ^ 0x01;
  await chmod(path, 0o644);
  await writeFile(path, data);
  await chmod(path, 0o444);
}

/** An uncompressed tar holding the given files. */
export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) {
    p.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface TinyImage {
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
}

/** Stores a minimal real OCI image (one tar layer, config, manifest) and returns its descriptors. */
export async function putTinyImage(store: Store, text = 'hello'): Promise<TinyImage> {
  const tar = await makeTar({ 'hello.txt': `${text}\n` });
  const layerPut = await store.putBytes(tar);
  const layer: Descriptor = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: layerPut.digest,
    size: layerPut.size,
  };
  const configPut = await store.putJson({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: [layerPut.digest] },
  });
  const config: Descriptor = {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: configPut.digest,
    size: configPut.size,
  };
  const manifestPut = await store.putJson({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: [layer],
  });
  const manifest: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: manifestPut.digest,
    size: manifestPut.size,
  };
  return { manifest, config, layer };
}
