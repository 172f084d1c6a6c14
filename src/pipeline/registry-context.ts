import type { EventSink } from '../core/events.js';
import { noEvents } from '../core/events.js';
import { AirlockError } from '../core/errors.js';
import {
  RegistryClient,
  loadCredentials,
  parseLayoutRef,
  parseRegistryRef,
} from '../registry/index.js';
import type { LayoutRef, RegistryRef } from '../registry/index.js';
import { Store, defaultStoreRoot } from '../store/index.js';
import type { RegistryUseCaseErrorCode } from './errors.js';

/** Options every registry use-case takes. */
export interface RegistryUseCaseOptions {
  /** Local store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string | undefined;
  /** `host:port` registries the user allows over plain http (plus AIRLOCK_INSECURE_REGISTRIES). */
  insecure?: readonly string[] | undefined;
  events?: EventSink | undefined;
  /** Environment for credentials and insecure hosts (default process.env). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Retry count and wait, for tests. */
  retries?: number | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

/** The registries marked insecure by flag or by AIRLOCK_INSECURE_REGISTRIES (comma-separated). */
export function insecureRegistries(opts: RegistryUseCaseOptions): string[] {
  const env = opts.env ?? process.env;
  const fromEnv = (env['AIRLOCK_INSECURE_REGISTRIES'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return [...(opts.insecure ?? []), ...fromEnv];
}

/** A client for `registry` with the user's credentials; warns (never silently) when it speaks http. */
export async function clientFor(
  registry: string,
  opts: RegistryUseCaseOptions,
): Promise<RegistryClient> {
  const events = opts.events ?? noEvents;
  const insecure = insecureRegistries(opts);
  if (insecure.includes(registry)) {
    events({
      type: 'log',
      level: 'warn',
      message: `${registry} is marked insecure: using plain http`,
    });
  }
  return new RegistryClient(registry, {
    insecure,
    credentials: await loadCredentials(opts.env ?? process.env),
    events,
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.sleep !== undefined ? { sleep: opts.sleep } : {}),
  });
}

/** Opens the local store named by the options. */
export function openStore(opts: RegistryUseCaseOptions): Promise<Store> {
  return Store.open(
    opts.store ?? defaultStoreRoot(opts.env ?? process.env),
    opts.events ? { events: opts.events } : {},
  );
}

/** An endpoint of a copy: a registry reference or an OCI layout directory. */
export type Endpoint = { kind: 'registry'; ref: RegistryRef } | { kind: 'layout'; ref: LayoutRef };

/** Parses `oci:<dir>[:tag]` or `host/repo[:tag][@digest]`. */
export function parseEndpoint(text: string): Endpoint {
  return text.startsWith('oci:')
    ? { kind: 'layout', ref: parseLayoutRef(text) }
    : { kind: 'registry', ref: parseRegistryRef(text) };
}

/** The tag or digest to fetch for a reference; a reference with neither is REFERENCE_INCOMPLETE. */
export function remoteRef(ref: { tag?: string; digest?: string }, text: string): string {
  const r = ref.digest ?? ref.tag;
  if (r === undefined) {
    throw new AirlockError<RegistryUseCaseErrorCode>(
      'REFERENCE_INCOMPLETE',
      `${text}: name a tag or a digest`,
      {
        hint: `Write ${text}:<tag> or ${text}@sha256:<digest>.`,
      },
    );
  }
  return r;
}
