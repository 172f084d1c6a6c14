import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_EXTRACT_LIMITS, extractTarGz, type ExtractLimits } from '../archive/index.js';
import { DigestHasher, digestHex, isDigest, parseDigest, type Digest } from '../core/digest.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { LAYER_MEDIA_TYPES, ociArch, parseManifest, type ImageManifest } from '../oci/index.js';
import type { RegistryClient } from './client.js';
import { pullArtifact, type ContentStore } from './transfer.js';

/*
 * Image roots, format airlock.image-root/v1: a toolchain image unpacked once
 * into a root filesystem, keyed by the digest the user pinned (manifest or index):
 *
 *   <store>/airlock/v1/roots/3f1c…9a0b/
 *     rootfs/      the image's layers extracted in order, OCI whiteouts applied,
 *                  absolute symlinks rebased to relative ones, no device nodes
 *     root.json    {"format":"airlock.image-root/v1","digest":"sha256:3f1c…",
 *                   "manifest":"sha256:…","layers":["sha256:…", …],
 *                   "tree":"sha256:…"}   tree: the Merkle digest of rootfs/ as
 *                   unpacked; checked before each use, a mismatch re-unpacks
 *   <store>/tmp/root-5e2a…/   a root being built; renamed into place when whole
 *
 * A root directory that exists is complete (rename is the commit); the layers
 * it came from were verified by the store before extraction, each layer's
 * uncompressed digest against the config's rootfs.diff_ids while unpacking.
 */

export type ImageRootErrorCode = 'IMAGE_ROOT_UNSUPPORTED' | 'IMAGE_INVALID';

export const IMAGE_ROOT_FORMAT = 'airlock.image-root/v1';

/** The store the image roots live in: blobs plus the paths of its directories. */
export interface ImageRootStore extends ContentStore {
  tmpDir: string;
  /** The store's layout (store/layout.ts): roots is where unpacked images live. */
  paths: { roots: string };
}

/** Options of ensureImageRoot. */
export interface ImageRootOptions {
  events?: EventSink;
  /** Limits against hostile layers (per layer); defaults to DEFAULT_EXTRACT_LIMITS. */
  limits?: Partial<ExtractLimits>;
  /**
   * The tree digest of an unpacked rootfs (through a stat cache): recorded
   * when unpacking, compared before each use; an altered root is unpacked again.
   */
  treeOf?: (rootfs: string) => Promise<Digest>;
}

/** The record of an unpacked root (root.json). */
export interface ImageRootRecord {
  format: string;
  digest: Digest;
  manifest: Digest;
  layers: Digest[];
  tree?: Digest;
}

/** An image root ready to be the sandbox root. */
export interface ImageRoot {
  /** The digest the image was pinned by. */
  digest: Digest;
  /** Absolute path of the unpacked root filesystem. */
  root: string;
  /** True when it was already unpacked before this call. */
  cached: boolean;
}

/** The directory of the image root for `digest` under the store's roots directory `rootsDir`. */
export function imageRootDir(rootsDir: string, digest: Digest): string {
  return join(rootsDir, digestHex(parseDigest(digest, 'image root')));
}

function unsupported(
  reference: string,
  why: string,
  hint: string,
): AirlockError<ImageRootErrorCode> {
  return new AirlockError<ImageRootErrorCode>(
    'IMAGE_ROOT_UNSUPPORTED',
    `${reference}: cannot use it as a toolchain root: ${why}`,
    { hint, details: { reference, reason: why } },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The image manifest behind `digest`, locally when the store already holds it
 * and its blobs (no network), else pulled and verified; an index resolves to
 * the linux manifest of this machine's architecture.
 */
async function resolveManifest(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  store: ContentStore,
  reference: string,
  events: EventSink,
): Promise<{ digest: Digest; manifest: ImageManifest }> {
  let bytes: Uint8Array;
  if (await store.has(digest)) bytes = await store.getBytes(digest);
  else bytes = (await client.getManifest(repo, digest)).bytes;
  const manifest = parseManifest(bytes, undefined, reference);
  if (manifest.kind === 'index') {
    const raw = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
      manifests?: { digest?: unknown; platform?: { os?: unknown; architecture?: unknown } }[];
    };
    const arch = ociArch(process.arch);
    const hit = (raw.manifests ?? []).find(
      (m) => m.platform?.os === 'linux' && m.platform.architecture === arch,
    );
    if (hit === undefined) {
      throw unsupported(
        reference,
        `the index has no linux/${arch} image`,
        `Pin the digest of an image built for linux/${arch}.`,
      );
    }
    const child = parseDigest(hit.digest, reference);
    await store.putBytes(bytes, { digest });
    return resolveManifest(client, repo, child, store, `${reference} (linux/${arch})`, events);
  }
  const blobs = [manifest.config, ...manifest.layers];
  const missing = [];
  for (const b of blobs) if (!(await store.has(b.digest))) missing.push(b.digest);
  if (missing.length > 0 || !(await store.has(digest))) {
    events({ type: 'log', level: 'info', message: `pulling toolchain image ${reference}` });
    // Tagged so `store gc` keeps the image that the cached root was unpacked from.
    const localTag = `airlock-toolchain/${repo}:${digest.slice('sha256:'.length, 'sha256:'.length + 16)}`;
    await pullArtifact(client, repo, digest, store, localTag, { attachments: false, events });
  }
  return { digest, manifest };
}

/**
 * Makes sure the image pinned as `repo@digest` (a manifest, or an index
 * resolved to this machine's linux platform) and every blob it references
 * are in the store, verified; returns the platform manifest's digest and model.
 */
export async function ensureImage(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  store: ContentStore,
  opts: { events?: EventSink } = {},
): Promise<{ digest: Digest; manifest: ImageManifest }> {
  parseDigest(digest, `${client.registry}/${repo}`);
  return resolveManifest(
    client,
    repo,
    digest,
    store,
    `${client.registry}/${repo}@${digest}`,
    opts.events ?? noEvents,
  );
}

/**
 * Makes sure the image pinned as `repo@digest` is unpacked under
 * `<store>/airlock/v1/roots/<hex>/rootfs` and returns that path: reused when
 * present, else pulled (every blob verified), its layers extracted in order
 * with whiteouts into a temp dir by the safe extractor, and renamed into place.
 */
export async function ensureImageRoot(
  client: RegistryClient,
  repo: string,
  digest: Digest,
  store: ImageRootStore,
  opts: ImageRootOptions = {},
): Promise<ImageRoot> {
  const events = opts.events ?? noEvents;
  parseDigest(digest, `${client.registry}/${repo}`);
  const reference = `${client.registry}/${repo}@${digest}`;
  const dir = imageRootDir(store.paths.roots, digest);
  const rootfs = join(dir, 'rootfs');
  if (await exists(join(dir, 'root.json'))) {
    const record = await readImageRoot(store.paths.roots, digest).catch(() => undefined);
    if (opts.treeOf === undefined) return { digest, root: rootfs, cached: true };
    const tree = record?.tree !== undefined ? await opts.treeOf(rootfs) : undefined;
    if (tree !== undefined && tree === record?.tree) return { digest, root: rootfs, cached: true };
    events({
      type: 'log',
      level: 'warn',
      message: `toolchain root ${dir} ${record?.tree === undefined ? 'has no recorded tree digest' : `was altered (its tree is ${tree}, not ${record.tree})`}; unpacking it again`,
    });
    await removeRoot(store, dir);
  }

  const resolved = await resolveManifest(client, repo, digest, store, reference, events);
  for (const layer of resolved.manifest.layers) {
    if (!LAYER_MEDIA_TYPES.includes(layer.mediaType)) {
      throw unsupported(
        reference,
        `layer ${layer.digest} has media type ${layer.mediaType}`,
        'Use an image whose layers are tar or tar+gzip (rebuild or convert zstd layers, e.g. with skopeo copy --dest-compress-format gzip).',
      );
    }
  }
  const diffIds = await configDiffIds(store, resolved.manifest, reference);
  const limits = { ...DEFAULT_EXTRACT_LIMITS, ...opts.limits };
  const tmp = join(store.tmpDir, `root-${randomBytes(8).toString('hex')}`);
  try {
    await mkdir(join(tmp, 'rootfs'), { recursive: true });
    for (const [i, layer] of resolved.manifest.layers.entries()) {
      const path = await store.verifiedPath(layer.digest);
      const hasher = new DigestHasher();
      // A root filesystem: absolute links point inside it, device nodes and fifos are left out.
      await extractTarGz(path, join(tmp, 'rootfs'), {
        compression: layer.mediaType.endsWith('gzip') ? 'gzip' : 'tar',
        onTarBytes: (chunk) => hasher.update(chunk),
        applyWhiteouts: true,
        absoluteLinks: 'rebase',
        onUnsupported: 'skip-devices',
        events,
        limits,
      });
      const actual = hasher.digest();
      if (actual !== diffIds[i]) {
        throw invalidImage(
          reference,
          `layer ${i + 1} (${layer.digest}) unpacks to ${actual}, but the config's rootfs.diff_ids[${i}] says ${diffIds[i]!}`,
          { layer: layer.digest, index: i, actual, expected: diffIds[i] },
        );
      }
    }
    const record: ImageRootRecord = {
      format: IMAGE_ROOT_FORMAT,
      digest,
      manifest: resolved.digest,
      layers: resolved.manifest.layers.map((l) => l.digest),
      ...(opts.treeOf ? { tree: await opts.treeOf(join(tmp, 'rootfs')) } : {}),
    };
    await writeFile(join(tmp, 'root.json'), `${JSON.stringify(record)}\n`, { flag: 'wx' });
    await mkdir(join(dir, '..'), { recursive: true });
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another build unpacked the same image first: theirs is as good as ours.
      if (!(await exists(join(dir, 'root.json')))) throw err;
    }
    events({ type: 'log', level: 'info', message: `unpacked toolchain image ${reference}` });
    return { digest, root: rootfs, cached: false };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Moves an unpacked root out of the way (rename first, so no one sees it half-deleted), then deletes it. */
export async function removeRoot(store: { tmpDir: string }, dir: string): Promise<void> {
  const trash = join(store.tmpDir, `root-old-${randomBytes(8).toString('hex')}`);
  try {
    await rename(dir, trash);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  await rm(trash, { recursive: true, force: true });
}

function invalidImage(
  reference: string,
  why: string,
  details: Record<string, unknown>,
): AirlockError<ImageRootErrorCode> {
  return new AirlockError<ImageRootErrorCode>(
    'IMAGE_INVALID',
    `${reference}: the image contradicts itself: ${why}`,
    {
      hint: 'The image was built wrongly or altered: do not use it. Pin a digest of an image rebuilt by a trusted builder.',
      details: { reference, ...details },
    },
  );
}

/** The config's rootfs.diff_ids, one digest per layer, or IMAGE_INVALID. */
async function configDiffIds(
  store: ContentStore,
  manifest: ImageManifest,
  reference: string,
): Promise<Digest[]> {
  let config: unknown;
  try {
    config = JSON.parse(Buffer.from(await store.getBytes(manifest.config.digest)).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  const ids = (config as { rootfs?: { diff_ids?: unknown } } | undefined)?.rootfs?.diff_ids;
  if (
    !Array.isArray(ids) ||
    ids.length !== manifest.layers.length ||
    !ids.every((d) => isDigest(d))
  ) {
    throw invalidImage(
      reference,
      `its config ${manifest.config.digest} does not list one rootfs.diff_ids digest per layer (${manifest.layers.length} layers)`,
      { config: manifest.config.digest },
    );
  }
  return ids;
}

/** Reads the record of an unpacked root, or undefined when there is none. */
export async function readImageRoot(
  rootsDir: string,
  digest: Digest,
): Promise<ImageRootRecord | undefined> {
  try {
    return JSON.parse(
      await readFile(join(imageRootDir(rootsDir, digest), 'root.json'), 'utf8'),
    ) as ImageRootRecord;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
