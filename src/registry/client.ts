import { sortByBytes } from '../core/compare.js';
import { DigestHasher, isDigest, parseDigest, sha256, type Digest } from '../core/digest.js';
import type { RegistryErrorCode } from './errors.js';
import {
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  MEDIA,
  manifestDescriptor,
  parseManifest,
  referrersIndex,
  referrersTag,
  withReferrer,
  type Descriptor,
  type ImageIndex,
  type Manifest,
} from '../oci/index.js';
import { isTag } from './reference.js';
import { isTransientNetworkError } from './retry.js';
import {
  RegistryTransport,
  pullScope,
  pushScope,
  type RequestSpec,
  type TrafficCounters,
  type TransportOptions,
} from './transport.js';
import { uploadBlob, type BlobSource } from './upload.js';

export type { BlobSource } from './upload.js';

/*
 * The registry client is three units: transport.ts (auth, redirects,
 * timeouts, retries, typed status errors), upload.ts (the blob upload state
 * machine), and this file: the distribution API endpoints over them.
 */

/** Options of a registry client; every one has a safe default. */
export interface RegistryClientOptions extends TransportOptions {
  /** Upload in PATCH chunks of this many bytes; default one streamed PATCH per blob. */
  chunkSize?: number;
}

/** Counters of one client's traffic; `uploadedBytes` counts blob body bytes sent. */
export type TransferStats = TrafficCounters;

/** A fetched, digest-checked and strictly parsed manifest. */
export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
  manifest: Manifest;
}

/**
 * A client for one OCI distribution v1.1 registry. It speaks https unless
 * the host is listed as insecure, verifies every digest it is given or
 * returns, sends credentials only to the registry's own origin or its token
 * realm, retries 429/5xx/resets with backoff, and never prints.
 */
export class RegistryClient {
  readonly registry: string;
  readonly origin: string;
  readonly stats: TransferStats = {
    uploadedBytes: 0,
    downloadedBytes: 0,
    blobsUploaded: 0,
    blobsSkipped: 0,
    blobsMounted: 0,
    retries: 0,
    requests: 0,
  };
  private readonly opts: RegistryClientOptions;
  private readonly http: RegistryTransport;

  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.opts = opts;
    this.http = new RegistryTransport(registry, opts, this.stats);
    this.origin = this.http.origin;
  }

  private get retries(): number {
    return this.http.retries;
  }

  private fail(
    code: RegistryErrorCode,
    reference: string,
    what: string,
    hint: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ): never {
    return this.http.fail(code, reference, what, hint, details, cause);
  }

  private request(spec: RequestSpec): Promise<Response> {
    return this.http.request(spec);
  }

  private backoff(
    spec: RequestSpec,
    attempt: number,
    wait: number | undefined,
    why: string,
  ): Promise<void> {
    return this.http.backoff(spec, attempt, wait, why);
  }

  private checkDigestHeader(res: Response, expected: Digest, reference: string): void {
    this.http.checkDigestHeader(res, expected, reference);
  }

  private resolve(url: string): URL {
    return this.http.resolve(url);
  }

  /** Checks that the registry speaks the distribution API (GET /v2/ → 200, after auth). */
  async ping(): Promise<void> {
    const res = await this.request({
      method: 'GET',
      url: '/v2/',
      scope: '',
      ok: [200],
      reference: this.registry,
    });
    await res.body?.cancel();
  }

  /** True when the repository holds the blob (HEAD). */
  async hasBlob(repo: string, digest: Digest): Promise<boolean> {
    parseDigest(digest, `${this.registry}/${repo}`);
    const res = await this.request({
      method: 'HEAD',
      url: `/v2/${repo}/blobs/${digest}`,
      scope: pullScope(repo),
      ok: [200, 404],
      reference: `${this.registry}/${repo}@${digest}`,
    });
    await res.body?.cancel();
    return res.status === 200;
  }

  /**
   * Streams a blob, hashing as it goes; resumes with a Range request after a
   * connection reset, and throws SIZE_MISMATCH / INTEGRITY_MISMATCH before
   * signalling the end, so a consumer that commits only after a clean end
   * never commits bad bytes. `sinkVerifies` skips the hash (sizes are still
   * checked) for a consumer that itself rejects a digest mismatch before committing.
   */
  async *blobStream(
    repo: string,
    desc: Descriptor,
    opts: { sinkVerifies?: boolean } = {},
  ): AsyncIterable<Uint8Array> {
    const digest = parseDigest(desc.digest, `${this.registry}/${repo}`);
    const reference = `${this.registry}/${repo}@${digest}`;
    const hasher = new DigestHasher();
    let received = 0;
    let attempt = 0;
    for (;;) {
      const headers: Record<string, string> = received > 0 ? { range: `bytes=${received}-` } : {};
      const res = await this.request({
        method: 'GET',
        url: `/v2/${repo}/blobs/${digest}`,
        scope: pullScope(repo),
        headers,
        ok: [200, 206],
        reference,
        rawBody: true,
      });
      let skip = received > 0 && res.status === 200 ? received : 0;
      try {
        if (!res.body) break;
        for await (const raw of res.body as AsyncIterable<Uint8Array>) {
          let chunk = raw;
          if (skip > 0) {
            const n = Math.min(skip, chunk.byteLength);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.byteLength === 0) continue;
          }
          if (received + chunk.byteLength > desc.size) {
            this.fail(
              'SIZE_MISMATCH',
              reference,
              `blob is larger than the expected ${desc.size} bytes`,
              'The registry content does not match the manifest; it may have been tampered with.',
              { expected: desc.size },
            );
          }
          if (opts.sinkVerifies !== true) hasher.update(chunk);
          received += chunk.byteLength;
          this.stats.downloadedBytes += chunk.byteLength;
          yield chunk;
        }
        break;
      } catch (err) {
        if (!isTransientNetworkError(err) || attempt >= this.retries) {
          if (isTransientNetworkError(err)) {
            this.fail(
              'REGISTRY_UNREACHABLE',
              reference,
              `connection lost after ${received} of ${desc.size} bytes`,
              'Retry the command; the registry or network dropped the connection.',
              { received },
              err,
            );
          }
          throw err;
        }
        await this.backoff(
          { method: 'GET', url: '', scope: '', ok: [], reference },
          attempt++,
          undefined,
          `connection lost after ${received} bytes`,
        );
      }
    }
    if (received !== desc.size) {
      this.fail(
        'SIZE_MISMATCH',
        reference,
        `blob has ${received} bytes, expected ${desc.size}`,
        'The registry content does not match the manifest; it may have been tampered with.',
        { expected: desc.size, actual: received },
      );
    }
    const actual = opts.sinkVerifies === true ? digest : hasher.digest();
    if (actual !== digest) {
      this.fail(
        'INTEGRITY_MISMATCH',
        reference,
        `blob content hashes to ${actual}`,
        'The registry content was altered or corrupted; re-push it from a trusted copy.',
        { expected: digest, actual },
      );
    }
  }

  /** Reads a whole (small) blob, verified. */
  async fetchBlob(repo: string, desc: Descriptor): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const c of this.blobStream(repo, desc)) parts.push(c);
    return Buffer.concat(parts);
  }

  /**
   * Uploads a blob unless the repository already has it (HEAD first) or it
   * can be mounted from `mountFrom` (upload.ts: resumable PATCH chunks, the
   * digest checked before and after the commit).
   */
  async pushBlob(
    repo: string,
    src: BlobSource,
    opts: { mountFrom?: string } = {},
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    const digest = parseDigest(src.digest, `${this.registry}/${repo}`);
    if (await this.hasBlob(repo, digest)) {
      this.stats.blobsSkipped++;
      return 'exists';
    }
    return uploadBlob(this.http, repo, digest, src, {
      mountFrom: opts.mountFrom,
      chunkSize: this.opts.chunkSize,
    });
  }

  /**
   * Fetches a manifest by tag or digest, checks it against the requested
   * digest (or the registry's Docker-Content-Digest for a tag) and parses it
   * strictly by media type.
   */
  async getManifest(repo: string, ref: string): Promise<FetchedManifest> {
    const reference = `${this.registry}/${repo}${isDigest(ref) ? '@' : ':'}${ref}`;
    if (!isDigest(ref)) {
      if (ref.startsWith('sha256:')) parseDigest(ref, reference);
      if (!isTag(ref))
        this.fail(
          'INVALID_REFERENCE',
          reference,
          `${JSON.stringify(ref)} is neither a tag nor a digest`,
          'Use a tag like 1.0 or a digest sha256:<64 hex>.',
        );
    }
    const res = await this.request({
      method: 'GET',
      url: `/v2/${repo}/manifests/${ref}`,
      scope: pullScope(repo),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      ok: [200],
      reference,
    });
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_MANIFEST_BYTES) {
      await res.body?.cancel();
      this.fail(
        'MANIFEST_INVALID',
        reference,
        `manifest of ${declared} bytes is too large`,
        'Manifests are limited to 4 MiB.',
      );
    }
    // Read with a cap: a response without Content-Length must not exhaust memory.
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > MAX_MANIFEST_BYTES) {
        await res.body?.cancel().catch(() => undefined);
        this.fail(
          'MANIFEST_INVALID',
          reference,
          `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`,
          'Manifests are limited to 4 MiB.',
        );
      }
      chunks.push(chunk);
    }
    const bytes = Buffer.concat(chunks);
    const digest = sha256(bytes);
    if (isDigest(ref) && digest !== ref) {
      this.fail(
        'INTEGRITY_MISMATCH',
        reference,
        `manifest content hashes to ${digest}`,
        'The registry returned a different manifest than the one asked for; it may have been tampered with.',
        { expected: ref, actual: digest },
      );
    }
    this.checkDigestHeader(res, digest, reference);
    const manifest = parseManifest(bytes, res.headers.get('content-type') ?? undefined, reference);
    return { descriptor: manifestDescriptor(manifest, digest, bytes.byteLength), bytes, manifest };
  }

  /** The descriptor of a manifest by tag or digest, or undefined when it does not exist (HEAD). */
  async headManifest(repo: string, ref: string): Promise<Descriptor | undefined> {
    const reference = `${this.registry}/${repo}:${ref}`;
    const res = await this.request({
      method: 'HEAD',
      url: `/v2/${repo}/manifests/${ref}`,
      scope: pullScope(repo),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      ok: [200, 404],
      reference,
    });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    const digest = parseDigest(res.headers.get('docker-content-digest'), reference);
    return {
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(),
      digest,
      size: Number(res.headers.get('content-length') ?? '0'),
    };
  }

  /**
   * Puts manifest bytes under a tag or their digest; verifies the registry's
   * reported digest and says whether it accepted the `subject` (OCI-Subject).
   */
  async putManifest(
    repo: string,
    ref: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<{ descriptor: Descriptor; subjectAccepted: boolean }> {
    const digest = sha256(bytes);
    const reference = `${this.registry}/${repo}:${ref}`;
    if (isDigest(ref) ? ref !== digest : !isTag(ref)) {
      if (!isDigest(ref) && ref.startsWith('sha256:')) parseDigest(ref, reference);
      this.fail(
        'INVALID_REFERENCE',
        reference,
        `cannot put a manifest under ${JSON.stringify(ref)}`,
        "Use a valid tag or the manifest's own digest.",
      );
    }
    const res = await this.request({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${ref}`,
      scope: pushScope(repo),
      headers: { 'content-type': mediaType },
      body: () => bytes,
      ok: [201],
      reference,
    });
    await res.body?.cancel();
    this.checkDigestHeader(res, digest, reference);
    return {
      descriptor: { mediaType, digest, size: bytes.byteLength },
      subjectAccepted: res.headers.get('oci-subject') !== null,
    };
  }

  /** Every tag of a repository, following `Link: rel="next"` pagination on this origin. */
  async listTags(repo: string, pageSize = 1000): Promise<string[]> {
    const reference = `${this.registry}/${repo}`;
    const tags: string[] = [];
    let url: string | undefined = `/v2/${repo}/tags/list?n=${pageSize}`;
    for (let page = 0; url !== undefined && page < 10_000; page++) {
      const res = await this.request({
        method: 'GET',
        url,
        scope: pullScope(repo),
        ok: [200],
        reference,
      });
      const doc = (await res.json()) as { tags?: unknown };
      if (doc.tags !== null && doc.tags !== undefined) {
        if (!Array.isArray(doc.tags) || doc.tags.some((t) => typeof t !== 'string')) {
          this.fail(
            'REGISTRY_ERROR',
            reference,
            'tag list is malformed',
            'The registry does not follow the distribution spec.',
          );
        }
        tags.push(...(doc.tags as string[]));
      }
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')?.[1];
      url =
        next !== undefined && this.resolve(next).origin === this.origin
          ? this.resolve(next).toString()
          : undefined;
    }
    return sortByBytes(new Set(tags), (t) => t);
  }

  /**
   * The referrers of `digest`: from the referrers API when the registry has
   * it, otherwise from the `sha256-<hex>` tag-schema index; filtered by
   * `artifactType` on the client when the registry did not filter.
   */
  async referrers(
    repo: string,
    digest: Digest,
    opts: { artifactType?: string } = {},
  ): Promise<{ via: 'api' | 'tag'; descriptors: Descriptor[] }> {
    parseDigest(digest, `${this.registry}/${repo}`);
    const reference = `${this.registry}/${repo}@${digest}`;
    const q =
      opts.artifactType === undefined
        ? ''
        : `?artifactType=${encodeURIComponent(opts.artifactType)}`;
    const res = await this.request({
      method: 'GET',
      url: `/v2/${repo}/referrers/${digest}${q}`,
      scope: pullScope(repo),
      headers: { accept: MEDIA.ociIndex },
      ok: [200, 404],
      reference,
    });
    const filter = (ds: Descriptor[]): Descriptor[] =>
      opts.artifactType === undefined ? ds : ds.filter((d) => d.artifactType === opts.artifactType);
    if (res.status === 200) {
      const bytes = new Uint8Array(await res.arrayBuffer());
      const index = parseManifest(
        bytes,
        res.headers.get('content-type') ?? MEDIA.ociIndex,
        `${reference} referrers`,
      );
      if (index.kind !== 'index')
        this.fail(
          'MANIFEST_INVALID',
          reference,
          'referrers response is not an index',
          'The registry referrers API is broken.',
        );
      const filtered = (res.headers.get('oci-filters-applied') ?? '')
        .split(',')
        .map((s) => s.trim())
        .includes('artifactType');
      return { via: 'api', descriptors: filtered ? index.manifests : filter(index.manifests) };
    }
    await res.body?.cancel();
    const fallback = await this.fallbackIndex(repo, digest);
    return { via: 'tag', descriptors: filter(fallback?.manifests ?? []) };
  }

  /** The tag-schema referrers index of `digest`, or undefined when there is none. */
  private async fallbackIndex(repo: string, digest: Digest): Promise<ImageIndex | undefined> {
    try {
      const got = await this.getManifest(repo, referrersTag(digest));
      if (got.manifest.kind !== 'index') {
        this.fail(
          'MANIFEST_INVALID',
          `${this.registry}/${repo}:${referrersTag(digest)}`,
          'the referrers fallback tag is not an index',
          'Delete the tag; Airlock recreates it on the next push.',
        );
      }
      return got.manifest;
    } catch (err) {
      if (err instanceof Error && (err as { code?: unknown }).code === 'REGISTRY_NOT_FOUND')
        return undefined;
      throw err;
    }
  }

  /** Adds `desc` to the `sha256-<hex>` fallback index of `subject` (read, merge, put; idempotent). */
  async addReferrerFallback(repo: string, subject: Digest, desc: Descriptor): Promise<void> {
    const existing = await this.fallbackIndex(repo, subject);
    const doc = referrersIndex(withReferrer(existing?.manifests ?? [], desc));
    await this.putManifest(
      repo,
      referrersTag(subject),
      Buffer.from(JSON.stringify(doc)),
      MEDIA.ociIndex,
    );
  }
}
