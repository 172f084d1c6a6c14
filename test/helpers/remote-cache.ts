// Test infrastructure for the remote action cache: an attacker that pushes
// hand-made entries with internally consistent digests, and a proxy that
// counts what a client asks of the registry.
import { mkdtemp, rm, writeFile, mkdir, chmod } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packTarGz, type PackEntry } from '../../src/archive/pack.js';
import { RESULT_FORMAT, type ActionResult } from '../../src/builder/action.js';
import { canonicalJson } from '../../src/core/canonical.js';
import { sha256, type Digest } from '../../src/core/digest.js';
import { treeDigest } from '../../src/core/tree.js';
import { cacheTag } from '../../src/builder/remote-cache.js';
import { RegistryClient } from '../../src/registry/index.js';
import { signCacheEntry, type SigningKey } from '../../src/sign/index.js';

export interface CountingProxy {
  host: string;
  /** `METHOD path` of every request seen. */
  requests: string[];
  stop(): Promise<void>;
}

/** An http proxy in front of a registry on 127.0.0.1 that records every request. */
export async function startCountingProxy(upstreamPort: number): Promise<CountingProxy> {
  const requests: string[] = [];
  let self = '';
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const up = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upRes) => {
        const h = { ...upRes.headers };
        if (typeof h.location === 'string')
          h.location = h.location.replace(/127\.0\.0\.1:\d+/, self);
        res.writeHead(upRes.statusCode ?? 502, h);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  self = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    host: self,
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface CraftedEntry {
  registry: string;
  repository: string;
  /** The action key the entry is filed under (its tag) and claims in its config and result. */
  key: Digest;
  /** Files of the output layer: path → content (mode 755 when `exec:` prefixes the content). */
  files: Record<string, string>;
  /** Signs with this key; unsigned when absent. */
  signWith?: SigningKey;
  /** What the signature says, when it should lie (another key or result). */
  signFor?: { actionKey?: Digest; result?: Digest };
}

const blob = (bytes: Buffer): { digest: Digest; size: number; bytes: Buffer } => ({
  digest: sha256(bytes),
  size: bytes.byteLength,
  bytes,
});

/**
 * Pushes an attacker's entry under `key`: a real layer, a result whose tree,
 * layer and blob list agree with it, the cache-entry config and annotations,
 * and optionally a signature. Returns the result digest.
 */
export async function pushCraftedEntry(e: CraftedEntry): Promise<Digest> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-crafted-'));
  try {
    const entries: PackEntry[] = [];
    for (const [path, text] of Object.entries(e.files)) {
      const abs = join(dir, 'files', path);
      await mkdir(dirname(abs), { recursive: true });
      const exec = text.startsWith('exec:');
      await writeFile(abs, exec ? text.slice(5) : text);
      if (exec) await chmod(abs, 0o755);
      entries.push({ path, kind: 'file', absPath: abs, executable: exec });
    }
    const packed = packTarGz(entries, { mtime: 1700000000 });
    const chunks: Buffer[] = [];
    for await (const c of packed.stream) chunks.push(c);
    const pack = await packed.result;
    const layer = blob(Buffer.concat(chunks));
    const result: ActionResult = {
      format: RESULT_FORMAT,
      actionKey: e.key,
      exitCode: 0,
      outputs: {
        tree: treeDigest(pack.entries),
        entries: pack.entries,
        layer: { digest: layer.digest, size: layer.size, diffId: pack.diffId },
      },
      logs: [],
      timings: { durationMs: 1 },
      blobs: [layer.digest],
    };
    const resultBlob = blob(Buffer.from(canonicalJson(result)));
    const config = blob(
      Buffer.from(
        canonicalJson({
          format: 'airlock.remote-cache/v1',
          actionKey: e.key,
          result: resultBlob.digest,
        }),
      ),
    );
    const layers = [
      {
        mediaType: 'application/vnd.airlock.action-result.v1+json',
        digest: resultBlob.digest,
        size: resultBlob.size,
      },
      { mediaType: 'application/octet-stream', digest: layer.digest, size: layer.size },
    ];
    const blobs = [resultBlob, layer, config];
    if (e.signWith) {
      const sig = blob(
        signCacheEntry(
          e.signWith,
          e.signFor?.actionKey ?? e.key,
          e.signFor?.result ?? resultBlob.digest,
        ),
      );
      blobs.push(sig);
      layers.push({
        mediaType: 'application/vnd.airlock.cache-signature.v1+json',
        digest: sig.digest,
        size: sig.size,
      });
    }
    const client = new RegistryClient(e.registry, { insecure: [e.registry] });
    for (const b of blobs) {
      await client.pushBlob(e.repository, {
        digest: b.digest,
        size: b.size,
        // eslint-disable-next-line @typescript-eslint/require-await
        async *open(offset: number) {
          yield b.bytes.subarray(offset);
        },
      });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.airlock.action-result.v1',
      config: {
        mediaType: 'application/vnd.airlock.cache-entry.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers,
      annotations: {
        'dev.airlock.action-key': e.key,
        'dev.airlock.result': resultBlob.digest,
      },
    };
    await client.putManifest(
      e.repository,
      cacheTag(e.key),
      Buffer.from(canonicalJson(manifest)),
      'application/vnd.oci.image.manifest.v1+json',
    );
    return resultBlob.digest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
