import { systemClock, type Clock } from '../core/clock.js';
import { sortByBytes } from '../core/compare.js';
import { DigestHasher, isDigest, parseDigest, sha256, type Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { basicAuth, parseChallenge, type CredentialStore } from './auth.js';
import { registryError, type RegistryErrorCode } from './errors.js';
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
import { backoffMs, isDnsFailure, isTransientNetworkError, retryAfterMs } from './retry.js';

/** Options of a registry client; every one has a safe default. */
export interface RegistryClientOptions {
  /** `host:port` names that may be reached over plain http; anything else is https only. */
  insecure?: readonly string[];
  /** Where credentials come from; anonymous when absent. */
  credentials?: CredentialStore;
  /** Progress, retries and warnings go here; the client never prints. */
  events?: EventSink;
  clock?: Clock;
  /** How to wait between retries (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
  /** Retries after a 429, 5xx or network fault (default 4). */
  retries?: number;
  /** Milliseconds without response headers or body bytes before a request is abandoned (default 60 s). */
  timeoutMs?: number;
  /** Upload in PATCH chunks of this many bytes; default one streamed PATCH per blob. */
  chunkSize?: number;
}

/** Bytes of a blob that can be read again from any offset (so uploads can resume). */
export interface BlobSource {
  digest: Digest;
  size: number;
  open(offset: number): AsyncIterable<Uint8Array>;
}

/** Counters of one client's traffic; `uploadedBytes` counts blob body bytes sent. */
export interface TransferStats {
  uploadedBytes: number;
  downloadedBytes: number;
  blobsUploaded: number;
  blobsSkipped: number;
  blobsMounted: number;
  retries: number;
  requests: number;
}

/** A fetched, digest-checked and strictly parsed manifest. */
export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
  manifest: Manifest;
}

interface RequestSpec {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Path under the registry origin (`/v2/...`) or an absolute URL on the same origin. */
  url: string;
  /** Token scope this request needs (`repository:x:pull`), '' for none. */
  scope: string;
  headers?: Record<string, string>;
  /** Body factory: called again for every attempt. */
  body?: () => Uint8Array | AsyncIterable<Uint8Array>;
  ok: readonly number[];
  /** Reference named in errors. */
  reference: string;
  /** May be retried after a 429/5xx/network fault (false for streamed PATCH). */
  retry?: boolean;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A blob iterator limited to `n` bytes. */
async function* take(src: AsyncIterable<Uint8Array>, n: number): AsyncIterable<Uint8Array> {
  let left = n;
  if (left <= 0) return;
  for await (const chunk of src) {
    if (chunk.byteLength >= left) {
      yield chunk.subarray(0, left);
      return;
    }
    left -= chunk.byteLength;
    yield chunk;
  }
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
  private readonly events: EventSink;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly insecure: boolean;
  /** Authorization header per token scope; `*` holds a Basic header for every scope. */
  private readonly auth = new Map<string, string>();

  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.opts = opts;
    this.insecure = (opts.insecure ?? []).includes(registry);
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    this.origin = `${this.insecure ? 'http' : 'https'}://${host}`;
    this.events = opts.events ?? noEvents;
    this.clock = opts.clock ?? systemClock;
    this.sleep = opts.sleep ?? defaultSleep;
    this.retries = opts.retries ?? 4;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  private fail(
    code: RegistryErrorCode,
    reference: string,
    what: string,
    hint: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ): never {
    throw registryError(
      code,
      `${reference}: ${what}`,
      hint,
      { reference, registry: this.registry, ...details },
      cause,
    );
  }

  /** Maps a non-OK HTTP status to a typed error naming the reference. */
  private async statusError(res: Response, spec: RequestSpec): Promise<never> {
    let detail = '';
    try {
      const text = (await res.text()).slice(0, 2000);
      const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      const first = doc.errors?.[0];
      if (first) detail = `${first.code ?? ''} ${first.message ?? ''}`.trim();
    } catch {
      // Not a JSON error body: the status alone says enough.
    }
    const facts = { status: res.status, method: spec.method, registryError: detail || undefined };
    const what = `${spec.method} returned ${res.status}${detail ? ` (${detail})` : ''}`;
    switch (res.status) {
      case 401:
        return this.fail(
          'REGISTRY_UNAUTHORIZED',
          spec.reference,
          `${what}: not authenticated`,
          `Log in: put credentials for ${this.registry} in ~/.docker/config.json or AIRLOCK_REGISTRY_AUTH.`,
          facts,
        );
      case 403:
        return this.fail(
          'REGISTRY_DENIED',
          spec.reference,
          `${what}: access denied`,
          `The credentials for ${this.registry} lack permission for this repository; ask its owner for pull/push rights.`,
          facts,
        );
      case 404:
        return this.fail(
          'REGISTRY_NOT_FOUND',
          spec.reference,
          `${what}: not found`,
          'Check the repository, tag or digest; `airlock ls <registry/repo>` lists the tags.',
          facts,
        );
      case 429:
        return this.fail(
          'REGISTRY_RATE_LIMITED',
          spec.reference,
          `${what}: rate limited`,
          'The registry throttled Airlock; wait and retry, or authenticate for a higher limit.',
          facts,
        );
      default:
        return this.fail(
          'REGISTRY_ERROR',
          spec.reference,
          what,
          'The registry failed; retry later or check its logs.',
          facts,
        );
    }
  }

  /** Resolves a path or Location against the registry origin. */
  private resolve(url: string): URL {
    return new URL(url, `${this.origin}/`);
  }

  /**
   * Sends one request with auth, manual redirects (Authorization dropped
   * off-origin), timeouts and retries; returns a response whose status is in `ok`.
   */
  private async request(spec: RequestSpec): Promise<Response> {
    let attempt = 0;
    let authTried = false;
    for (;;) {
      let res: Response;
      try {
        res = await this.send(spec);
      } catch (err) {
        if (
          isTransientNetworkError(err) &&
          !isDnsFailure(err) &&
          spec.retry !== false &&
          attempt < this.retries
        ) {
          await this.backoff(spec, attempt++, undefined, String((err as Error).cause ?? err));
          continue;
        }
        if (isTransientNetworkError(err) || isDnsFailure(err)) {
          this.fail(
            'REGISTRY_UNREACHABLE',
            spec.reference,
            `cannot reach ${this.origin} (${String((err as Error).cause ?? err)})`,
            `Check that ${this.registry} is up and reachable${this.insecure ? '' : ' over https (mark a plain-http registry with --insecure-registry)'}.`,
            { attempts: attempt + 1 },
            err,
          );
        }
        throw err;
      }
      if (spec.ok.includes(res.status)) return res;
      // Only the registry itself may challenge: a host it redirected to must
      // never learn its credentials (a storage host could name its own realm).
      if (res.status === 401 && !authTried && this.answeredBy.get(res) === this.origin) {
        authTried = true;
        const header = res.headers.get('www-authenticate');
        await res.body?.cancel();
        if (header) {
          await this.authenticate(header, spec);
          continue;
        }
        return this.statusError(res, spec);
      }
      if (
        (res.status === 429 || res.status >= 500) &&
        spec.retry !== false &&
        attempt < this.retries
      ) {
        const wait = retryAfterMs(res.headers.get('retry-after'), this.clock.now());
        await res.body?.cancel();
        await this.backoff(spec, attempt++, wait, `HTTP ${res.status}`);
        continue;
      }
      return this.statusError(res, spec);
    }
  }

  private async backoff(
    spec: RequestSpec,
    attempt: number,
    wait: number | undefined,
    why: string,
  ): Promise<void> {
    const ms = wait ?? backoffMs(attempt);
    this.stats.retries++;
    this.events({
      type: 'log',
      level: 'warn',
      message: `${spec.reference}: ${spec.method} failed (${why}); retry ${attempt + 1}/${this.retries} in ${ms} ms`,
    });
    await this.sleep(ms);
  }

  /** The origin that finally answered each response (after redirects). */
  private readonly answeredBy = new WeakMap<Response, string>();

  /** One HTTP exchange, following up to 5 GET/HEAD redirects itself. */
  private async send(spec: RequestSpec): Promise<Response> {
    let url = this.resolve(spec.url);
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === this.origin;
      const headers: Record<string, string> = { ...spec.headers };
      if (sameOrigin) {
        const auth = this.auth.get(spec.scope) ?? this.auth.get('*');
        if (auth) headers['authorization'] = auth;
      } else if (!this.insecure && url.protocol !== 'https:') {
        this.fail(
          'INSECURE_REGISTRY',
          spec.reference,
          `the registry redirected to ${url.protocol}//${url.host}, which is not https`,
          'Refusing a downgrade to plain http; fix the registry storage redirect.',
        );
      }
      const body = spec.body?.();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.timeoutMs);
      this.stats.requests++;
      let res: Response;
      try {
        const init: RequestInit & { duplex?: 'half' } = {
          method: spec.method,
          headers,
          redirect: 'manual',
          signal: controller.signal,
        };
        if (body !== undefined) {
          init.body = body;
          if (!(body instanceof Uint8Array)) init.duplex = 'half';
        }
        res = await fetch(url, init);
      } finally {
        clearTimeout(timer);
      }
      const location = res.headers.get('location');
      const redirect = [301, 302, 303, 307, 308].includes(res.status) && location !== null;
      if (
        !redirect ||
        !(spec.method === 'GET' || spec.method === 'HEAD') ||
        spec.ok.includes(res.status)
      ) {
        this.answeredBy.set(res, url.origin);
        return res;
      }
      await res.body?.cancel();
      if (hop >= 5)
        this.fail(
          'REGISTRY_ERROR',
          spec.reference,
          'too many redirects',
          'The registry redirects in a loop; check its storage configuration.',
        );
      url = new URL(location, url);
    }
  }

  /**
   * Answers a 401 challenge: Basic sends the stored credential to this
   * origin only; Bearer fetches a token for the challenge's scope (least
   * privilege) from its realm, sending the credential only over https or to
   * an insecure-marked host.
   */
  private async authenticate(header: string, spec: RequestSpec): Promise<void> {
    const challenge = parseChallenge(header, spec.reference);
    const cred = this.opts.credentials?.(this.registry);
    if (challenge.scheme === 'basic') {
      if (!cred) {
        this.fail(
          'REGISTRY_UNAUTHORIZED',
          spec.reference,
          'the registry requires a login',
          `Put credentials for ${this.registry} in ~/.docker/config.json or AIRLOCK_REGISTRY_AUTH.`,
        );
      }
      this.auth.set('*', basicAuth(cred));
      return;
    }
    const realm = new URL(challenge.realm);
    const realmTrusted =
      realm.protocol === 'https:' ||
      (this.insecure && realm.hostname === this.resolve('/').hostname);
    const scope = challenge.scope ?? spec.scope;
    if (challenge.service !== undefined) realm.searchParams.set('service', challenge.service);
    for (const s of scope.split(' ').filter((x) => x.length > 0))
      realm.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (cred) {
      if (!realmTrusted) {
        this.fail(
          'INSECURE_REGISTRY',
          spec.reference,
          `the token realm ${realm.origin} is not https`,
          'Refusing to send credentials in clear text; mark the registry insecure only if the realm is on the same host.',
        );
      }
      headers['authorization'] = basicAuth(cred);
    }
    this.stats.requests++;
    let res: Response;
    try {
      res = await fetch(realm, {
        headers,
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      return this.fail(
        'REGISTRY_UNREACHABLE',
        spec.reference,
        `cannot reach the token service ${realm.origin}`,
        'Check that the registry auth service is up.',
        {},
        err,
      );
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      this.fail(
        'REGISTRY_UNAUTHORIZED',
        spec.reference,
        `the token service refused ${cred ? 'the credentials' : 'anonymous access'} (HTTP ${res.status})`,
        `Check the username and password for ${this.registry} in ~/.docker/config.json or AIRLOCK_REGISTRY_AUTH.`,
        { status: res.status },
      );
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      this.fail(
        'REGISTRY_ERROR',
        spec.reference,
        `the token service answered HTTP ${res.status}`,
        'Retry later or check the registry auth service.',
        { status: res.status },
      );
    }
    let token: unknown;
    try {
      const doc = (await res.json()) as Record<string, unknown>;
      token = doc['token'] ?? doc['access_token'];
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token.length === 0) {
      this.fail(
        'AUTH_CHALLENGE_INVALID',
        spec.reference,
        'the token service returned no token',
        'The registry auth service is misconfigured.',
      );
    }
    this.auth.set(spec.scope, `Bearer ${token}`);
  }

  private static pull(repo: string): string {
    return `repository:${repo}:pull`;
  }

  private static push(repo: string): string {
    return `repository:${repo}:pull,push`;
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
      scope: RegistryClient.pull(repo),
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
        scope: RegistryClient.pull(repo),
        headers,
        ok: [200, 206],
        reference,
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
   * can be mounted from `mountFrom`; streams it in PATCH requests, resumes
   * from the registry's reported offset after a fault, and checks the
   * digest the registry reports.
   */
  async pushBlob(
    repo: string,
    src: BlobSource,
    opts: { mountFrom?: string } = {},
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    const digest = parseDigest(src.digest, `${this.registry}/${repo}`);
    const reference = `${this.registry}/${repo}@${digest}`;
    if (await this.hasBlob(repo, digest)) {
      this.stats.blobsSkipped++;
      return 'exists';
    }
    let res: Response;
    if (opts.mountFrom !== undefined && opts.mountFrom !== repo) {
      res = await this.request({
        method: 'POST',
        url: `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(opts.mountFrom)}`,
        scope: `${RegistryClient.push(repo)} ${RegistryClient.pull(opts.mountFrom)}`,
        headers: { 'content-length': '0' },
        ok: [201, 202],
        reference,
      });
      await res.body?.cancel();
      if (res.status === 201) {
        this.checkDigestHeader(res, digest, reference);
        this.stats.blobsMounted++;
        return 'mounted';
      }
    } else {
      res = await this.request({
        method: 'POST',
        url: `/v2/${repo}/blobs/uploads/`,
        scope: RegistryClient.push(repo),
        headers: { 'content-length': '0' },
        ok: [202],
        reference,
      });
      await res.body?.cancel();
    }
    let location = this.uploadLocation(res, reference);
    const scope = RegistryClient.push(repo);
    let offset = 0;
    let faults = 0;
    // Hash of the bytes sent, while they were sent contiguously from byte 0.
    let track: SentTracker = { hasher: new DigestHasher(), hashedTo: 0 };
    const chunkSize = this.opts.chunkSize ?? src.size;
    while (offset < src.size) {
      const end = Math.min(src.size, offset + Math.max(1, chunkSize));
      const start = offset;
      try {
        res = await this.request({
          method: 'PATCH',
          url: location,
          scope,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${start}-${end - 1}`,
            'content-length': String(end - start),
          },
          body: () => this.counted(take(src.open(start), end - start), track, start),
          ok: [202],
          reference,
          retry: false,
        });
        await res.body?.cancel();
        location = this.uploadLocation(res, reference);
        offset = end;
        this.events({
          type: 'progress',
          phase: 'push',
          done: offset,
          total: src.size,
          bytes: offset,
        });
      } catch (err) {
        const transient =
          isTransientNetworkError(err) || (err instanceof Error && isTransientStatus(err));
        if (!transient || faults >= this.retries) {
          throw registryError(
            'UPLOAD_FAILED',
            `${reference}: upload failed at byte ${start} of ${src.size}`,
            'Retry the push; blobs already uploaded are not sent again.',
            { reference, offset: start, size: src.size },
            err,
          );
        }
        await this.backoff(
          { method: 'PATCH', url: '', scope: '', ok: [], reference },
          faults++,
          undefined,
          `upload interrupted at byte ${start}`,
        );
        // Ask where the session stands; a registry that invalidated it
        // (distribution 2.8 does after a partial PATCH) gets a fresh session,
        // and so does one whose stored length cannot be known (`Range: 0-0`).
        let restart = false;
        try {
          const status = await this.request({
            method: 'GET',
            url: location,
            scope,
            ok: [204],
            reference,
          });
          await status.body?.cancel();
          const stored = parseUploadRange(status.headers.get('range'));
          if (stored === undefined) restart = true;
          else {
            location = this.uploadLocation(status, reference);
            offset = stored;
            if (offset === 0) track = { hasher: new DigestHasher(), hashedTo: 0 };
            else if (offset !== track.hashedTo) track = { hasher: undefined, hashedTo: 0 };
          }
        } catch (statusErr) {
          if (!isAirlockError(statusErr)) throw statusErr;
          restart = true;
        }
        if (restart) {
          const fresh = await this.request({
            method: 'POST',
            url: `/v2/${repo}/blobs/uploads/`,
            scope,
            headers: { 'content-length': '0' },
            ok: [202],
            reference,
          });
          await fresh.body?.cancel();
          location = this.uploadLocation(fresh, reference);
          offset = 0;
          track = { hasher: new DigestHasher(), hashedTo: 0 };
          this.events({
            type: 'log',
            level: 'debug',
            message: `${reference}: upload session lost; restarting from byte 0`,
          });
        }
      }
    }
    // Never commit bytes that do not hash to the digest (the source may be an
    // unverified file). After a resume the bytes sent were not all hashed in
    // order, so the whole source is hashed again before committing.
    let hasher = track.hasher;
    if (hasher === undefined || track.hashedTo !== src.size) {
      hasher = new DigestHasher();
      for await (const chunk of src.open(0)) hasher.update(chunk);
    }
    const sent = hasher.digest();
    if (sent !== digest || hasher.size !== src.size) {
      try {
        const del = await this.request({
          method: 'DELETE',
          url: location,
          scope,
          ok: [204, 404],
          reference,
          retry: false,
        });
        await del.body?.cancel();
      } catch {
        // Best effort: an abandoned session expires on the registry by itself.
      }
      this.fail(
        'INTEGRITY_MISMATCH',
        reference,
        `the local content (${hasher.size} bytes) hashes to ${sent}, not to its digest`,
        'The local copy is corrupt; run `airlock store fsck --repair` and rebuild or pull it again.',
        { expected: digest, actual: sent },
      );
    }
    const put = this.resolve(location);
    put.searchParams.set('digest', digest);
    res = await this.request({
      method: 'PUT',
      url: put.toString(),
      scope,
      headers: { 'content-length': '0' },
      ok: [201],
      reference,
    });
    await res.body?.cancel();
    this.checkDigestHeader(res, digest, reference);
    this.stats.blobsUploaded++;
    return 'uploaded';
  }

  /** Wraps an upload body so that every byte sent is counted. */
  private async *counted(
    src: AsyncIterable<Uint8Array>,
    track: SentTracker,
    start: number,
  ): AsyncIterable<Uint8Array> {
    let at = start;
    for await (const chunk of src) {
      this.stats.uploadedBytes += chunk.byteLength;
      if (track.hasher !== undefined && track.hashedTo === at) {
        track.hasher.update(chunk);
        track.hashedTo += chunk.byteLength;
      }
      at += chunk.byteLength;
      yield chunk;
    }
  }

  private uploadLocation(res: Response, reference: string): string {
    const loc = res.headers.get('location');
    if (!loc)
      this.fail(
        'REGISTRY_ERROR',
        reference,
        'upload response has no Location header',
        'The registry does not follow the distribution spec.',
      );
    const url = this.resolve(loc);
    if (url.origin !== this.origin) {
      this.fail(
        'REGISTRY_ERROR',
        reference,
        `upload location ${url.origin} is on another host`,
        'Refusing to send data and credentials to another host.',
      );
    }
    return url.toString();
  }

  private checkDigestHeader(res: Response, expected: Digest, reference: string): void {
    const header = res.headers.get('docker-content-digest');
    if (header !== null && header !== expected) {
      this.fail(
        'DIGEST_HEADER_MISMATCH',
        reference,
        `the registry reports digest ${header} for content whose digest is ${expected}`,
        'The registry or a proxy altered the content; do not trust this registry until it is fixed.',
        { expected, reported: header },
      );
    }
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
      scope: RegistryClient.pull(repo),
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
      scope: RegistryClient.pull(repo),
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
      scope: RegistryClient.push(repo),
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
        scope: RegistryClient.pull(repo),
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
      scope: RegistryClient.pull(repo),
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

interface SentTracker {
  hasher: DigestHasher | undefined;
  hashedTo: number;
}

/** True for a 429/5xx registry error (a PATCH worth resuming). */
function isTransientStatus(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    code === 'REGISTRY_UNREACHABLE' ||
    code === 'REGISTRY_RATE_LIMITED' ||
    (code === 'REGISTRY_ERROR' &&
      Number((err as { details?: { status?: unknown } }).details?.status) >= 500)
  );
}

/**
 * The next offset from an upload-status `Range: 0-<last>` header: 0 when no
 * range is reported, undefined for `0-0`, which distribution sends both for
 * an empty session and for one stored byte (resuming at 1 would drop byte 0).
 */
function parseUploadRange(header: string | null): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header?.trim() ?? '');
  if (!m) return 0;
  const last = Number(m[1]);
  return last === 0 ? undefined : last + 1;
}
