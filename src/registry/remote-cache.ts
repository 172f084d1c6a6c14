import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { canonicalJson } from '../core/canonical.js';
import { digestHex, isDigest, parseDigest, type Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { MEDIA, type Descriptor } from '../oci/index.js';
import type { BlobSource, RegistryClient } from './client.js';
import type { ContentStore } from './transfer.js';
import { mapLimit } from './retry.js';

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
 *     "layers": [ the ActionResult JSON, then every blob it lists in `blobs` (output layer, logs) ],
 *     "annotations": { "dev.airlock.action-key": "sha256:5d41…", "dev.airlock.result": "sha256:…" }
 *   }
 *
 * Blobs are pushed before the manifest, so a tag never names an entry with
 * missing content; a reader verifies every blob and the recorded key.
 */

export const REMOTE_CACHE_FORMAT = 'airlock.remote-cache/v1';
export const CACHE_ENTRY_MEDIA_TYPE = 'application/vnd.airlock.cache-entry.v1+json';
export const CACHE_ARTIFACT_TYPE = 'application/vnd.airlock.action-result.v1';
const RESULT_MEDIA_TYPE = 'application/vnd.airlock.action-result.v1+json';
const BLOB_MEDIA_TYPE = 'application/octet-stream';
export const ACTION_KEY_ANNOTATION = 'dev.airlock.action-key';
export const RESULT_ANNOTATION = 'dev.airlock.result';

/** The shape of BuildContext.remoteCache: faults become undefined and warnings, never errors. */
export interface RemoteActionCache {
  fetch(key: Digest): Promise<Digest | undefined>;
  publish(key: Digest, result: Digest): Promise<void>;
}

export interface RegistryCacheOptions {
  client: RegistryClient;
  /** Repository inside the client's registry, e.g. `team/cache`. */
  repository: string;
  store: ContentStore;
  events?: EventSink;
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
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

  async function fetchEntry(key: Digest): Promise<Digest | undefined> {
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
    events({ type: 'log', level: 'info', message: `remote cache hit for ${key} in ${where}` });
    return result;
  }

  async function publishEntry(key: Digest, result: Digest): Promise<void> {
    const bytes = await store.getBytes(result);
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
    async publish(key, result) {
      if (down) return;
      try {
        await publishEntry(key, result);
      } catch (err) {
        fault('publish', key, err);
      }
    },
  };
}
