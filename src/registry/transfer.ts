import { createReadStream } from 'node:fs';
import { sortByBytes } from '../core/compare.js';
import { isDigest, parseDigest, type Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import type { BlobSource, RegistryClient } from './client.js';
import { registryError } from './errors.js';
import { mapLimit } from './retry.js';
import {
  canHaveSubject,
  childrenOf,
  manifestDescriptor,
  parseManifest,
  referrersIndex,
  referrersTag,
  refersTo,
  withReferrer,
  type Descriptor,
  type Manifest,
} from '../oci/index.js';

/**
 * The part of the local store (src/store `Store`) that transfers need; the
 * registry module depends on this shape only, never on the store itself.
 */
export interface ContentStore {
  has(digest: Digest): Promise<boolean>;
  getBytes(digest: Digest): Promise<Uint8Array>;
  putBytes(
    data: Uint8Array,
    expect?: { digest?: Digest; size?: number },
  ): Promise<{ digest: Digest; size: number }>;
  putStream(
    src: AsyncIterable<Uint8Array>,
    expect?: { digest?: Digest; size?: number },
  ): Promise<{ digest: Digest; size: number }>;
  /** Path of a blob file whose content was just re-hashed and matched. */
  verifiedPath(digest: Digest): Promise<string>;
  /**
   * Path of a blob file, unverified; when present, pushes stream from it and
   * the registry client checks the hash of what it sent before committing.
   */
  blobPath?(digest: Digest): string;
  setTag(name: string, manifest: Descriptor): Promise<void>;
  resolveTag(name: string): Promise<Descriptor | undefined>;
  listTags(): Promise<{ name: string; descriptor: Descriptor }[]>;
}

/** Options shared by push and pull. */
export interface TransferOptions {
  /** Also transfer every manifest whose subject is the artifact (default true). */
  attachments?: boolean;
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  events?: EventSink;
}

/** What a push or pull moved; digests are what a user should record. */
export interface TransferResult {
  digest: Digest;
  descriptor: Descriptor;
  blobs: { total: number; transferred: number; skipped: number };
  attachments: Descriptor[];
}

const READ_CHUNK = 1024 * 1024;

/** A store's digest/size rejection of registry content, re-thrown naming the registry reference. */
function asRegistryMismatch(err: unknown, reference: string): unknown {
  if (!isAirlockError(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH')) return err;
  const code = err.code === 'DIGEST_MISMATCH' ? 'INTEGRITY_MISMATCH' : 'SIZE_MISMATCH';
  return registryError(
    code,
    `${reference}: registry content rejected: ${err.message}`,
    'The registry content was altered or corrupted; nothing was stored. Re-push it from a trusted copy.',
    { reference, ...err.details },
    err,
  );
}

/**
 * The chunks of `src` as they come (the store batches its writes without
 * copying); an abort of `signal` ends it at once, even while the source is
 * waiting for the network.
 */
async function* abortable(
  src: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): AsyncIterable<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  const aborted = signal === undefined ? undefined : abortPromise(signal);
  try {
    for (;;) {
      const r = aborted === undefined ? await it.next() : await Promise.race([it.next(), aborted]);
      if (r.done) break;
      yield r.value;
    }
  } finally {
    // Not awaited: a source stuck on the network must not hold up the abort.
    it.return?.()?.catch(() => undefined);
  }
}

/** A promise that rejects with the signal's reason once it is aborted. */
function abortPromise(signal: AbortSignal): Promise<never> {
  const p = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
  p.catch(() => undefined); // observed by the race; never an unhandled rejection
  return p;
}

/** Reads and strictly parses a manifest from the local store (the store verifies the bytes). */
async function localManifest(
  store: ContentStore,
  desc: Descriptor,
  where: string,
): Promise<{ bytes: Uint8Array; manifest: Manifest }> {
  const bytes = await store.getBytes(parseDigest(desc.digest, where));
  return { bytes, manifest: parseManifest(bytes, desc.mediaType, `${where}@${desc.digest}`) };
}

/** A store blob as a re-openable, verified upload source. */
function storeSource(store: ContentStore, desc: Descriptor): BlobSource {
  let path: Promise<string> | undefined;
  return {
    digest: desc.digest,
    size: desc.size,
    async *open(offset: number) {
      path ??= store.blobPath
        ? Promise.resolve(store.blobPath(desc.digest))
        : store.verifiedPath(desc.digest);
      const stream = createReadStream(await path, { start: offset, highWaterMark: READ_CHUNK });
      for await (const chunk of stream) yield chunk as Buffer;
    },
  };
}

/**
 * The attachments of `subject` in the local store: the manifests listed in
 * its `sha256-<hex>` referrers index, plus any tagged manifest whose
 * `subject` is it; sorted by digest.
 */
export async function localReferrers(store: ContentStore, subject: Digest): Promise<Descriptor[]> {
  const found = new Map<string, Descriptor>();
  const idx = await store.resolveTag(referrersTag(subject));
  if (idx) {
    const { manifest } = await localManifest(store, idx, referrersTag(subject));
    if (manifest.kind === 'index') for (const d of manifest.manifests) found.set(d.digest, d);
  }
  for (const { name, descriptor } of await store.listTags()) {
    if (found.has(descriptor.digest) || name === referrersTag(subject)) continue;
    if (!canHaveSubject(descriptor.mediaType)) continue;
    try {
      const { manifest } = await localManifest(store, descriptor, name);
      if (refersTo(manifest, subject))
        found.set(
          descriptor.digest,
          manifestDescriptor(manifest, descriptor.digest, descriptor.size),
        );
    } catch {
      // A tag that is not a readable manifest cannot be an attachment.
    }
  }
  return sortByBytes(found.values(), (d) => d.digest);
}

/**
 * Records `attachment` as a referrer of `subject` in the local store by
 * rewriting its `sha256-<hex>` index (the same tag schema registries use).
 */
export async function attachLocal(
  store: ContentStore,
  subject: Digest,
  attachment: Descriptor,
): Promise<void> {
  const tag = referrersTag(subject);
  const current = await store.resolveTag(tag);
  let manifests: Descriptor[] = [];
  if (current) {
    const { manifest } = await localManifest(store, current, tag);
    if (manifest.kind === 'index') manifests = manifest.manifests;
  }
  const doc = referrersIndex(sortByBytes(withReferrer(manifests, attachment), (d) => d.digest));
  const put = await store.putBytes(Buffer.from(JSON.stringify(doc)));
  await store.setTag(tag, { mediaType: doc.mediaType, digest: put.digest, size: put.size });
}

interface Counters {
  total: number;
  transferred: number;
  skipped: number;
}

/**
 * Pushes a manifest and everything below it: blobs first (HEAD-skipped when
 * present), child manifests next, the manifest itself last, so a tag never
 * points at something incomplete.
 */
async function pushTree(
  client: RegistryClient,
  repo: string,
  store: ContentStore,
  desc: Descriptor,
  ref: string,
  counters: Counters,
  opts: TransferOptions,
): Promise<{ descriptor: Descriptor; manifest: Manifest; subjectAccepted: boolean }> {
  const where = `local ${desc.digest}`;
  const { bytes, manifest } = await localManifest(store, desc, where);
  const { blobs, manifests } = childrenOf(manifest);
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  await mapLimit(unique, opts.concurrency ?? 4, async (b) => {
    counters.total++;
    let how: Awaited<ReturnType<RegistryClient['pushBlob']>>;
    try {
      how = await client.pushBlob(repo, storeSource(store, b));
    } catch (err) {
      // A local copy that no longer matches its digest is the cause, not the upload:
      // verifying it says so (BLOB_CORRUPT, and quarantines it).
      await store.verifiedPath(b.digest);
      throw err;
    }
    if (how === 'exists') counters.skipped++;
    else counters.transferred++;
  });
  for (const child of manifests)
    await pushTree(client, repo, store, child, child.digest, counters, opts);
  const put = await client.putManifest(repo, ref, bytes, manifest.mediaType);
  return {
    descriptor: manifestDescriptor(manifest, put.descriptor.digest, put.descriptor.size),
    manifest,
    subjectAccepted: put.subjectAccepted,
  };
}

/**
 * Pushes the local manifest `desc` to `repo` under `tag` (or by digest)
 * with, unless disabled, every local attachment; attachments the registry
 * does not index itself (no OCI-Subject) are added to its tag-schema index.
 */
export async function pushArtifact(
  client: RegistryClient,
  repo: string,
  store: ContentStore,
  desc: Descriptor,
  tag: string | undefined,
  opts: TransferOptions = {},
): Promise<TransferResult> {
  const counters: Counters = { total: 0, transferred: 0, skipped: 0 };
  const events = opts.events ?? noEvents;
  const root = await pushTree(client, repo, store, desc, tag ?? desc.digest, counters, opts);
  const attachments: Descriptor[] = [];
  if (opts.attachments !== false) {
    const seen = new Set<string>([root.descriptor.digest]);
    const queue: Digest[] = [root.descriptor.digest];
    while (queue.length > 0) {
      const subject = queue.shift()!;
      for (const a of await localReferrers(store, subject)) {
        if (seen.has(a.digest)) continue;
        seen.add(a.digest);
        const pushed = await pushTree(client, repo, store, a, a.digest, counters, opts);
        if (!pushed.subjectAccepted)
          await client.addReferrerFallback(repo, subject, pushed.descriptor);
        attachments.push(pushed.descriptor);
        events({
          type: 'log',
          level: 'info',
          message: `attached ${pushed.descriptor.artifactType ?? 'manifest'} ${a.digest} to ${subject}`,
        });
        queue.push(a.digest);
      }
    }
  }
  return {
    digest: root.descriptor.digest,
    descriptor: root.descriptor,
    blobs: counters,
    attachments,
  };
}

/**
 * Pulls a manifest and everything below it into the store, verified:
 * each blob is hashed while streaming and rejected before it is committed;
 * the manifest is stored only after all it references is present.
 */
async function pullTree(
  client: RegistryClient,
  repo: string,
  ref: string,
  store: ContentStore,
  counters: Counters,
  opts: TransferOptions,
): Promise<Descriptor> {
  const got = await client.getManifest(repo, ref);
  const { blobs, manifests } = childrenOf(got.manifest);
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  await mapLimit(unique, opts.concurrency ?? 4, async (b, _i, signal) => {
    counters.total++;
    if (await store.has(b.digest)) {
      counters.skipped++;
      return;
    }
    // The store hashes while writing and rejects a mismatch before committing.
    const stream = client.blobStream(repo, b, { sinkVerifies: true });
    try {
      await store.putStream(abortable(stream, signal), {
        digest: b.digest,
        size: b.size,
      });
    } catch (err) {
      if (signal.aborted && err === signal.reason) throw err;
      throw asRegistryMismatch(err, `${client.registry}/${repo}@${b.digest}`);
    }
    counters.transferred++;
  });
  for (const child of manifests) await pullTree(client, repo, child.digest, store, counters, opts);
  await store.putBytes(got.bytes, { digest: got.descriptor.digest, size: got.descriptor.size });
  return got.descriptor;
}

/**
 * Pulls `ref` (tag or digest) from `repo` into the store, verified, with
 * its attachments (recorded in the local `sha256-<hex>` indexes), and tags
 * it locally as `localTag` when given. Returns the resolved digest.
 */
export async function pullArtifact(
  client: RegistryClient,
  repo: string,
  ref: string,
  store: ContentStore,
  localTag: string | undefined,
  opts: TransferOptions = {},
): Promise<TransferResult> {
  if (ref.startsWith('sha256:') && !isDigest(ref)) parseDigest(ref, `${client.registry}/${repo}`);
  const counters: Counters = { total: 0, transferred: 0, skipped: 0 };
  const root = await pullTree(client, repo, ref, store, counters, opts);
  if (localTag !== undefined) await store.setTag(localTag, root);
  const attachments: Descriptor[] = [];
  if (opts.attachments !== false) {
    const seen = new Set<string>([root.digest]);
    const queue: Digest[] = [root.digest];
    while (queue.length > 0) {
      const subject = queue.shift()!;
      const { descriptors } = await client.referrers(repo, subject);
      for (const a of descriptors) {
        if (seen.has(a.digest)) continue;
        seen.add(a.digest);
        const pulled = await pullTree(client, repo, a.digest, store, counters, opts);
        // The referrers list is the registry's word; the verified manifest
        // decides: it must name this subject, and its own type is recorded.
        const { manifest } = await localManifest(store, pulled, `${client.registry}/${repo}`);
        if (!refersTo(manifest, subject)) {
          opts.events?.({
            type: 'log',
            level: 'warn',
            message: `${client.registry}/${repo}: ${a.digest} is listed as attached to ${subject} but its subject is ${manifest.subject?.digest ?? 'missing'}; ignored`,
          });
          continue;
        }
        const desc = manifestDescriptor(manifest, pulled.digest, pulled.size);
        await attachLocal(store, subject, desc);
        attachments.push(desc);
        queue.push(a.digest);
      }
    }
  }
  return { digest: root.digest, descriptor: root, blobs: counters, attachments };
}

/** Resolves a local reference (tag or digest) to the descriptor of a stored manifest. */
export async function resolveLocal(
  store: ContentStore,
  ref: string,
  where: string,
): Promise<Descriptor> {
  if (isDigest(ref)) {
    const bytes = await store.getBytes(ref);
    const m = parseManifest(bytes, undefined, `${where}@${ref}`);
    return manifestDescriptor(m, ref, bytes.byteLength);
  }
  if (ref.startsWith('sha256:')) parseDigest(ref, where);
  const desc = await store.resolveTag(ref);
  if (!desc) {
    throw registryError(
      'REGISTRY_NOT_FOUND',
      `${where}: no tag ${JSON.stringify(ref)} in the local store`,
      'List local tags with `airlock store ls`, or pass a digest.',
      { reference: ref },
    );
  }
  return desc;
}
