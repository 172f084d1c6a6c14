import { systemClock, type Clock } from '../core/clock.js';
import { noEvents, type EventSink } from '../core/events.js';
import type { Digest } from '../core/digest.js';
import { basicAuth, parseChallenge, type CredentialStore } from './auth.js';
import { registryError, type RegistryErrorCode } from './errors.js';
import { rawGet, rawSend } from './raw-get.js';
import { backoffMs, isDnsFailure, isTransientNetworkError, retryAfterMs } from './retry.js';

/** What the transport needs of a client's options; every one has a safe default. */
export interface TransportOptions {
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
}

/** Counters of one client's traffic the transport and the endpoints keep. */
export interface TrafficCounters {
  uploadedBytes: number;
  downloadedBytes: number;
  blobsUploaded: number;
  blobsSkipped: number;
  blobsMounted: number;
  retries: number;
  requests: number;
}

/** One request to the registry. */
export interface RequestSpec {
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
  /**
   * A large body, sent or read without fetch where it can be: a GET's
   * response body through `rawGet`, a streamed request body with a
   * `content-length` header through `rawSend`.
   */
  rawBody?: boolean;
}

/** The fetch Node started with, to tell whether the process replaced it. */
const builtinFetch = globalThis.fetch;

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The token scope to pull from `repo`. */
export function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

/** The token scope to push to `repo`. */
export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

/**
 * HTTP to one registry, below the API endpoints: https unless the host is
 * marked insecure, auth challenges (Basic, Bearer tokens per scope, the
 * credential sent only to the registry's origin or a trusted realm), manual
 * redirects (Authorization never leaves the origin, no downgrade to http),
 * timeouts, and retries of 429/5xx/resets with backoff; errors typed by status.
 */
export class RegistryTransport {
  readonly registry: string;
  readonly origin: string;
  readonly events: EventSink;
  readonly clock: Clock;
  readonly retries: number;
  private readonly opts: TransportOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly timeoutMs: number;
  private readonly insecure: boolean;
  /** Authorization header per token scope; `*` holds a Basic header for every scope. */
  private readonly auth = new Map<string, string>();

  constructor(
    registry: string,
    opts: TransportOptions,
    readonly stats: TrafficCounters,
  ) {
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

  /** Throws a typed registry error naming `reference` and this registry. */
  fail(
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
  resolve(url: string): URL {
    return new URL(url, `${this.origin}/`);
  }

  /**
   * Sends one request with auth, manual redirects (Authorization dropped
   * off-origin), timeouts and retries; returns a response whose status is in `ok`.
   */
  async request(spec: RequestSpec): Promise<Response> {
    let attempt = 0;
    let authTried = false;
    for (;;) {
      let res: Response;
      try {
        res = await this.send(spec);
      } catch (err) {
        // With no DNS (an offline machine) a retry only waits: reported at once.
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

  async backoff(
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
        // A fetch the process installed itself (a proxy agent, instrumentation) carries everything.
        const raw = spec.rawBody === true && globalThis.fetch === builtinFetch;
        const length = Number(headers['content-length']);
        if (raw && spec.method === 'GET' && body === undefined) {
          res = (await rawGet(url, headers, controller.signal)) ?? (await fetch(url, init));
        } else if (
          raw &&
          (spec.method === 'PATCH' || spec.method === 'PUT') &&
          body !== undefined &&
          !(body instanceof Uint8Array) &&
          Number.isSafeInteger(length)
        ) {
          res = await rawSend(spec.method, url, headers, { body, length }, controller.signal);
        } else res = await fetch(url, init);
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

  /** Refuses a response whose Docker-Content-Digest names other content than `expected`. */
  checkDigestHeader(res: Response, expected: Digest, reference: string): void {
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
}
