// Builders of small OCI artifacts for the registry tests: into an Airlock
// store, or by hand into a plain OCI layout directory (for skopeo).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../../src/oci/index.js';
import { attachLocal, type ContentStore } from '../../src/registry/index.js';
import { digestOf } from './registry.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

/** Stores a one-layer artifact manifest (random layer of `size` bytes) and tags it. */
export async function storeArtifact(
  store: ContentStore,
  tag: string,
  size = 100_000,
  layer?: Uint8Array,
): Promise<Descriptor> {
  const data = layer ?? randomBytes(size);
  const l = await store.putBytes(data);
  const c = await store.putBytes(Buffer.from('{}'));
  const doc = {
    schemaVersion: 2,
    mediaType: MANIFEST,
    artifactType: 'application/vnd.airlock.artifact.v1',
    config: { mediaType: EMPTY, digest: c.digest, size: c.size },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.size },
    ],
  };
  const m = await store.putBytes(Buffer.from(JSON.stringify(doc)));
  const desc: Descriptor = { mediaType: MANIFEST, digest: m.digest, size: m.size };
  await store.setTag(tag, desc);
  return desc;
}

/** Stores an attachment (e.g. an SBOM) whose subject is `subject`, and indexes it locally. */
export async function storeAttachment(
  store: ContentStore,
  subject: Descriptor,
  artifactType: string,
  content: string,
): Promise<Descriptor> {
  const b = await store.putBytes(Buffer.from(content));
  const c = await store.putBytes(Buffer.from('{}'));
  const doc = {
    schemaVersion: 2,
    mediaType: MANIFEST,
    artifactType,
    config: { mediaType: EMPTY, digest: c.digest, size: c.size },
    layers: [{ mediaType: artifactType, digest: b.digest, size: b.size }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
  const m = await store.putBytes(Buffer.from(JSON.stringify(doc)));
  const desc: Descriptor = { mediaType: MANIFEST, digest: m.digest, size: m.size, artifactType };
  await attachLocal(store, subject.digest, desc);
  return desc;
}

/** Writes a minimal OCI image layout by hand (no Airlock code), one image tagged `tag`. */
export async function writeOciLayout(
  dir: string,
  tag: string,
  layer: Uint8Array,
): Promise<{ manifestDigest: string }> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Uint8Array): Promise<{ digest: string; size: number }> => {
    const digest = digestOf(data);
    await writeFile(join(blobs, digest.slice(7)), data);
    return { digest, size: data.byteLength };
  };
  const l = await put(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [l.digest] },
      config: {},
    }),
  );
  const c = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
    }),
  );
  const m = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: MANIFEST, ...m, annotations: { 'org.opencontainers.image.ref.name': tag } },
      ],
    }),
  );
  return { manifestDigest: m.digest };
}
