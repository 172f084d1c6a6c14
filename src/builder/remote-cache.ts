import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { canonicalJson } from '../core/canonical.js';
import { digestHex, isDigest, parseDigest, type Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { MEDIA, type Descriptor } from '../oci/index.js';
import {
  mapLimit,
  type BlobSource,
  type ContentStore,
  type RegistryClient,
} from '../registry/index.js';

/*
 * A remote action-cache entry, format airlock.remote-cache/v1: one OCI image
 * manifest per action key in the cache repository, tagged `ac-<hex of key>`:
 *
 *   registry.example.com/team/cache:ac-5d41…c0de  →  {
 *     "schemaVersion": 2,
 *     "mediaType": "application/vnd.oci.image.manifest.v1+json",
 *     "artifactType": "application/vnd.airlock.action-result.v1",
 *     "config": { "mediaType": "application/vnd.airlock.cache-entry.v1+json", … },
 *         ← canonical JSON {"actionKey":"sha256:5d41…","format":"airlock.remote-cache/v1","result":"sha256:…"}
 *     "layers": [ the ActionResult JSON, then every blob it lists in `blobs` (output layer, and
 *                 step logs only when the publisher opted in, scrubbed of host paths),
 *                 then the signature: a DSSE envelope, media type
 *                 application/vnd.airlock.cache-signature.v1+json, over
 *                 {"actionKey","builder":{"keyId"},"format":"airlock.cache-signature/v1","result"} ],
 *     "annotations": { "dev.airlock.action-key": "sha256:5d41…", "dev.airlock.result": "sha256:…" }
 *   }
 *
 * Blobs are pushed before the manifest, so a tag never names an entry with
 * missing content. A reader checks the recorded key and the signature against
 * its trusted builders before it downloads anything else, then verifies every blob.
 */

export const REMOTE_CACHE_FORMAT = 'airlock.remote-cache/v1';
export const CACHE_ENTRY_MEDIA_TYPE = 'application/vnd.airlock.cache-entry.v1+json';
export const CACHE_ARTIFACT_TYPE = 'application/vnd.airlock.action-result.v1';
const RESULT_MEDIA_TYPE = 'application/vnd.airlock.action-result.v1+json';
const BLOB_MEDIA_TYPE = 'application/octet-stream';
export const SIGNATURE_MEDIA_TYPE = 'application/vnd.airlock.cache-signature.v1+json';
export const ACTION_KEY_ANNOTATION = 'dev.airlock.action-key';
export const RESULT_ANNOTATION = 'dev.airlock.result';
/** A signature envelope is a few hundred bytes; anything far bigger is refused unread. */
const MAX_SIGNATURE_BYTES = 64 * 1024;

/** A remote hit: the result brought into the local store, and who vouched for it. */
export interface RemoteCacheHit {
  result: Digest;
  /** `<registry>/<repository>`. */
  repository: string;
  /** Key id of the trusted builder that signed the entry, or `any` when trust is `any`. */
  signer: string;
  /** The entry's signature envelope, kept so the trust can be re-checked later. */
  envelope?: Buffer;
}

/** The shape of BuildContext.remoteCache: faults become undefined and warnings, never errors. */
export interface RemoteActionCache {
  fetch(key: Digest): Promise<RemoteCacheHit | undefined>;
  /** Absent on a read-only client: it never pushes anything. */
  publish?(key: Digest, result: Digest): Promise<void>;
}

/** Decides whether an entry's signature is by a trusted builder for this key and result. */
export interface EntryTrust {
  check(
    envelope: Buffer | undefined,
    expected: { actionKey: Digest; result: Digest },
  ): { ok: true; signer: string } | { ok: false; reason: string };
}

/** Signs (action key, result) for publication; returns the DSSE envelope bytes. */
export interface EntrySigner {
  sign(actionKey: Digest, result: Digest): Buffer;
}

export interface RegistryCacheOptions {
  client: RegistryClient;
  /** Repository inside the client's registry, e.g. `team/cache`. */
  repository: string;
  store: ContentStore;
  events?: EventSink;
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  /** Which entries may be used; an entry it refuses is a miss with a warning. */
  trust: EntryTrust;
  /** Signs published entries; without it the cache is read-only and never pushes. */
  signer?: EntrySigner;
  /** Publish step logs (default false), after `scrub` removed host paths from them. */
  publishLogs?: boolean;
  /** Host paths (store root, project root) replaced in published logs. */
  scrubPaths?: readonly string[];
}

/** The tag of the cache entry of `key`. */
export function cacheTag(key: Digest): string {
  return `ac-${digestHex(parseDigest(key, 'action key'))}`;
}

/** Why an entry is refused; turned into a warning, never thrown out of the cache. */
class Refused extends Error {}

/** The part of an ActionResult the cache needs: who made it and which blobs it refers to. */
function resultFacts(value: unknown): { actionKey: unknown; blobs: Digest[] } {
  if (typeof value !== 'object' || value === null) throw new Refused('the result is not an object');
  const v = value as { actionKey?: unknown; blobs?: unknown };
  if (!Array.isArray(v.blobs) || !v.blobs.every(isDigest))
    throw new Refused('the result does not list its blobs');
  return { actionKey: v.actionKey, blobs: v.blobs };
}

interface LogRef {
  step: number;
  stdout: Digest;
  stderr: Digest;
}

/** Replaces every occurrence of each path (longest first) with a placeholder. */
export function scrubHostPaths(text: string, paths: readonly string[]): string {
  let out = text;
  for (const p of [...new Set(paths)]
    .filter((p) => p.length > 1)
    .sort((a, b) => b.length - a.length))
    out = out.split(p).join('<host-path>');
  return out;
}

/** The file of a store blob: its plain path when the store exposes it (the client hashes what it sends), else a verified one. */
async function blobFile(store: ContentStore, digest: Digest): Promise<string> {
  return store.blobPath ? store.blobPath(digest) : store.verifiedPath(digest);
}

/** A store blob as a re-openable upload source. */
function blobSource(path: string, digest: Digest, size: number): BlobSource {
  return {
    digest,
    size,
    async *open(offset: number) {
      for await (const chunk of createReadStream(path, { start: offset })) yield chunk as Buffer;
    },
  };
}

/**
 * A remote action cache in a registry repository. `fetch` brings a result and
 * every blob it declares into the local store, each verified before it is
 * committed, and only when the entry records the very key asked for; `publish`
 * pushes blobs first and the tagged manifest last. Neither ever throws: a miss,
 * a mismatch or a network fault is `undefined` plus a warning event, and after
 * the registry is found unreachable the cache stays off for this process.
 */
export function registryRemoteCache(opts: RegistryCacheOptions): RemoteActionCache {
  const { client, repository: repo, store } = opts;
  const events = opts.events ?? noEvents;
  const concurrency = opts.concurrency ?? 4;
  const where = `${client.registry}/${repo}`;
  let down = false;

  const warn = (message: string): void => events({ type: 'log', level: 'warn', message });
  const fault = (what: string, key: Digest, err: unknown): void => {
    const why = err instanceof Error ? err.message : String(err);
    if (isAirlockError(err, 'REGISTRY_UNREACHABLE')) {
      down = true;
      warn(`remote cache ${where} is unreachable (${why}); building locally without it`);
    } else if (err instanceof Refused) {
      warn(`remote cache entry ${cacheTag(key)} in ${where} refused: ${why}; building instead`);
    } else {
      warn(`remote cache ${what} for ${key} failed: ${why}`);
    }
  };

  /** Pulls one blob into the store unless present; the store rejects a digest or size mismatch. */
  const pull = async (desc: Descriptor): Promise<void> => {
    if (await store.has(desc.digest)) return;
    await store.putStream(client.blobStream(repo, desc, { sinkVerifies: true }), {
      digest: desc.digest,
      size: desc.size,
    });
  };

  async function fetchEntry(key: Digest): Promise<RemoteCacheHit | undefined> {
    const tag = cacheTag(key);
    let got;
    try {
      got = await client.getManifest(repo, tag);
    } catch (err) {
      if (isAirlockError(err, 'REGISTRY_NOT_FOUND')) return undefined;
      throw err;
    }
    const m = got.manifest;
    if (m.kind !== 'manifest' || m.config.mediaType !== CACHE_ENTRY_MEDIA_TYPE)
      throw new Refused('it is not an Airlock cache entry');
    const config = JSON.parse(
      Buffer.from(await client.fetchBlob(repo, m.config)).toString('utf8'),
    ) as { format?: unknown; actionKey?: unknown; result?: unknown };
    if (config.format !== REMOTE_CACHE_FORMAT) throw new Refused('unknown entry format');
    if (config.actionKey !== key)
      throw new Refused(`it records action key ${String(config.actionKey)}, not ${key}`);
    if (m.annotations?.[ACTION_KEY_ANNOTATION] !== key)
      throw new Refused('its annotations name another action key');
    if (!isDigest(config.result)) throw new Refused('it names no valid result digest');
    const result = config.result;
    const resultDesc = m.layers[0];
    if (resultDesc?.digest !== result) throw new Refused('its first layer is not the result');
    // Trust first: an entry no trusted builder signed costs no download.
    const sigs = m.layers.filter((l) => l.mediaType === SIGNATURE_MEDIA_TYPE);
    if (sigs.length > 1) throw new Refused('it carries more than one signature layer');
    let envelope: Buffer | undefined;
    if (sigs[0]) {
      if (sigs[0].size > MAX_SIGNATURE_BYTES) throw new Refused('its signature layer is too big');
      envelope = Buffer.from(await client.fetchBlob(repo, sigs[0]));
    }
    const verdict = opts.trust.check(envelope, { actionKey: key, result });
    if (!verdict.ok) throw new Refused(verdict.reason);
    await pull(resultDesc);
    const facts = resultFacts(JSON.parse((await store.getBytes(result)).toString()));
    if (facts.actionKey !== key)
      throw new Refused(`the result was produced by ${String(facts.actionKey)}, not ${key}`);
    const layers = new Map(m.layers.map((l) => [l.digest, l]));
    const wanted = facts.blobs.map((d) => {
      const desc = layers.get(d);
      if (!desc) throw new Refused(`blob ${d} of the result is not in the entry`);
      return desc;
    });
    await mapLimit(wanted, concurrency, pull);
    events({
      type: 'log',
      level: verdict.signer === 'any' ? 'warn' : 'info',
      message:
        verdict.signer === 'any'
          ? `remote cache hit for ${key} in ${where} used without checking who made it (cache.remote.trust: any)`
          : `remote cache hit for ${key} in ${where}, signed by ${verdict.signer}`,
    });
    return { result, repository: where, signer: verdict.signer, ...(envelope ? { envelope } : {}) };
  }

  /**
   * The result to publish for a local one: without logs unless the config
   * asks for them, and then with host paths scrubbed out of each log. The
   * result published is stored locally too (its digest is what gets signed).
   */
  async function publishable(result: Digest): Promise<{ digest: Digest; bytes: Buffer }> {
    const bytes = Buffer.from(await store.getBytes(result));
    const value = JSON.parse(bytes.toString()) as Record<string, unknown> & {
      logs?: LogRef[];
      blobs?: Digest[];
    };
    const logs = Array.isArray(value.logs) ? value.logs : [];
    const logBlobs = new Set(logs.flatMap((l) => [l.stdout, l.stderr]));
    const others = (value.blobs ?? []).filter((d) => !logBlobs.has(d));
    let published: LogRef[] = [];
    if (opts.publishLogs === true) {
      const scrub = async (d: Digest): Promise<Digest> => {
        const text = Buffer.from(await store.getBytes(d)).toString('utf8');
        const clean = scrubHostPaths(text, opts.scrubPaths ?? []);
        return (await store.putBytes(Buffer.from(clean, 'utf8'))).digest;
      };
      for (const l of logs)
        published.push({
          step: l.step,
          stdout: await scrub(l.stdout),
          stderr: await scrub(l.stderr),
        });
    } else published = [];
    const out = {
      ...value,
      logs: published,
      blobs: [...others, ...published.flatMap((l) => [l.stdout, l.stderr])],
    };
    const outBytes = Buffer.from(canonicalJson(out), 'utf8');
    const stored = await store.putBytes(outBytes);
    return { digest: stored.digest, bytes: outBytes };
  }

  async function publishEntry(signer: EntrySigner, key: Digest, local: Digest): Promise<void> {
    const { digest: result, bytes } = await publishable(local);
    const facts = resultFacts(JSON.parse(bytes.toString()));
    if (facts.actionKey !== key) throw new Refused(`result ${result} belongs to another action`);
    const layers: Descriptor[] = [
      { mediaType: RESULT_MEDIA_TYPE, digest: result, size: bytes.byteLength },
    ];
    const files = new Map<Digest, string>([[result, await blobFile(store, result)]]);
    for (const d of new Set(facts.blobs)) {
      if (!(await store.has(d))) throw new Refused(`blob ${d} of result ${result} is not stored`);
      const file = await blobFile(store, d);
      files.set(d, file);
      layers.push({ mediaType: BLOB_MEDIA_TYPE, digest: d, size: (await stat(file)).size });
    }
    const config = Buffer.from(
      canonicalJson({ format: REMOTE_CACHE_FORMAT, actionKey: key, result }),
    );
    const configDesc = await store.putBytes(config);
    const signature = await store.putBytes(signer.sign(key, result));
    files.set(signature.digest, await blobFile(store, signature.digest));
    layers.push({ mediaType: SIGNATURE_MEDIA_TYPE, ...signature });
    // Blobs first, the manifest last: the tag never names an incomplete entry.
    await mapLimit(
      [{ mediaType: CACHE_ENTRY_MEDIA_TYPE, ...configDesc }, ...layers],
      concurrency,
      async (d) =>
        client.pushBlob(
          repo,
          blobSource(files.get(d.digest) ?? (await blobFile(store, d.digest)), d.digest, d.size),
        ),
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      artifactType: CACHE_ARTIFACT_TYPE,
      config: {
        mediaType: CACHE_ENTRY_MEDIA_TYPE,
        digest: configDesc.digest,
        size: configDesc.size,
      },
      layers,
      annotations: { [ACTION_KEY_ANNOTATION]: key, [RESULT_ANNOTATION]: result },
    };
    await client.putManifest(
      repo,
      cacheTag(key),
      Buffer.from(canonicalJson(manifest)),
      MEDIA.ociManifest,
    );
    events({ type: 'log', level: 'info', message: `published ${key} to remote cache ${where}` });
  }

  return {
    async fetch(key) {
      if (down) return undefined;
      try {
        return await fetchEntry(key);
      } catch (err) {
        fault('fetch', key, err);
        return undefined;
      }
    },
    ...(opts.signer
      ? {
          async publish(key: Digest, result: Digest): Promise<void> {
            if (down) return;
            try {
              await publishEntry(opts.signer!, key, result);
            } catch (err) {
              fault('publish', key, err);
            }
          },
        }
      : {}),
  };
}
