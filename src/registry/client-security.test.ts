import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sha256 } from '../core/digest.js';
import { staticCredentials } from './auth.js';
import { Store } from '../store/index.js';
import { RegistryClient } from './client.js';
import { localReferrers, pullArtifact } from './transfer.js';

/** Replaces fetch for one test with a scripted registry; records every request. */
function scriptFetch(
  handler: (url: URL, init: RequestInit) => Promise<Response> | Response,
): string[] {
  const log: string[] = [];
  vi.stubGlobal('fetch', async (input: string | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const headers = (init.headers ?? {}) as Record<string, string>;
    log.push(`${init.method ?? 'GET'} ${url.href} auth=${headers['authorization'] ?? '-'}`);
    return handler(url, init);
  });
  return log;
}

afterEach(() => vi.unstubAllGlobals());

describe('RegistryClient', () => {
  describe('when a redirect target answers 401 with its own realm', () => {
    it('never sends the registry credentials there', async () => {
      const log = scriptFetch((url) => {
        if (url.host === 'reg.example.com') {
          return new Response(null, {
            status: 307,
            headers: { location: 'https://cdn.attacker.net/blob' },
          });
        }
        if (url.host === 'cdn.attacker.net') {
          return new Response('', {
            status: 401,
            headers: {
              'www-authenticate': 'Bearer realm="https://evil.attacker.net/token",service="x"',
            },
          });
        }
        return Response.json({ token: 't' });
      });
      const client = new RegistryClient('reg.example.com', {
        credentials: staticCredentials({
          'reg.example.com': { username: 'alice', password: 's3cret' },
        }),
        retries: 0,
      });
      const digest = sha256('any blob');
      await expect(async () => {
        for await (const _ of client.blobStream('team/app', { mediaType: 'x', digest, size: 1 }))
          void _;
      }).rejects.toThrow();
      expect(log.some((l) => l.includes('evil.attacker.net'))).toBe(false);
      expect(log.filter((l) => l.includes('auth=Basic'))).toEqual([]);
    });
  });

  describe('when an upload resumes after a failed PATCH and the local bytes are not the digest', () => {
    it('rejects with INTEGRITY_MISMATCH instead of committing', async () => {
      const good = Buffer.from('hello world, the real content!!');
      const bad = Buffer.from('HELLO WORLD, tampered content!!');
      const digest = sha256(good);
      let patches = 0;
      const log = scriptFetch(async (url, init) => {
        const method = init.method ?? 'GET';
        if (init.body && !(init.body instanceof Uint8Array)) {
          for await (const _ of init.body as AsyncIterable<Uint8Array>) void _;
        }
        if (method === 'HEAD') return new Response(null, { status: 404 });
        if (method === 'POST')
          return new Response(null, {
            status: 202,
            headers: { location: '/v2/r/blobs/uploads/1' },
          });
        if (method === 'PATCH') {
          return patches++ === 0
            ? new Response('', { status: 500 })
            : new Response(null, { status: 202, headers: { location: '/v2/r/blobs/uploads/1' } });
        }
        if (method === 'GET') {
          return new Response(null, {
            status: 204,
            headers: { location: '/v2/r/blobs/uploads/1', range: '0-4' },
          });
        }
        if (method === 'PUT')
          return new Response(null, { status: 201, headers: { 'docker-content-digest': digest } });
        return new Response('', { status: 204 });
      });
      const client = new RegistryClient('reg.example.com', {
        retries: 2,
        sleep: async () => {},
        chunkSize: 8,
      });
      const src = {
        digest,
        size: bad.length,
        open: (offset: number) => Readable.from([bad.subarray(offset)]),
      };
      await expect(client.pushBlob('r', src)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
      expect(log.some((l) => l.startsWith('PUT') && l.includes('digest='))).toBe(false);
    });
  });
});

describe('pullArtifact', () => {
  describe('when the referrers list names a manifest whose subject is another artifact', () => {
    it('does not record it as an attachment', async () => {
      const cfg = Buffer.from('{}');
      const json = (o: object): Buffer => Buffer.from(JSON.stringify(o));
      const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
      const empty = {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: sha256(cfg),
        size: 2,
      };
      const subject = json({ schemaVersion: 2, mediaType: MANIFEST, config: empty, layers: [] });
      const foreign = json({
        schemaVersion: 2,
        mediaType: MANIFEST,
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        config: empty,
        layers: [],
        subject: { mediaType: MANIFEST, digest: sha256('another artifact'), size: 1 },
      });
      const manifests: Record<string, Buffer> = {
        [sha256(subject)]: subject,
        [sha256(foreign)]: foreign,
      };
      scriptFetch((url) => {
        const p = url.pathname;
        const m = /manifests\/(.+)$/.exec(p);
        if (m && manifests[m[1]!]) {
          return new Response(manifests[m[1]!], { headers: { 'content-type': MANIFEST } });
        }
        if (/blobs\//.test(p)) return new Response(cfg);
        const r = /referrers\/(.+)$/.exec(p);
        if (r) {
          const list =
            r[1] === sha256(subject)
              ? [{ mediaType: MANIFEST, digest: sha256(foreign), size: foreign.length }]
              : [];
          return new Response(
            json({
              schemaVersion: 2,
              mediaType: 'application/vnd.oci.image.index.v1+json',
              manifests: list,
            }),
            {
              headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
            },
          );
        }
        return new Response('', { status: 404 });
      });
      const dir = mkdtempSync(join(tmpdir(), 'airlock-referrers-'));
      const store = await Store.open(dir);
      try {
        const result = await pullArtifact(
          new RegistryClient('reg.example.com'),
          'app',
          sha256(subject),
          store,
          'app',
        );
        expect(result.attachments).toEqual([]);
        expect(await localReferrers(store, sha256(subject))).toEqual([]);
      } finally {
        store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('getManifest', () => {
  describe('when a manifest response has no Content-Length and is huge', () => {
    it('stops reading at the 4 MiB cap with MANIFEST_INVALID', async () => {
      let sent = 0;
      scriptFetch(() => {
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            sent += 1 << 20;
            controller.enqueue(new Uint8Array(1 << 20));
            if (sent > 64 << 20) controller.close();
          },
        });
        return new Response(stream, {
          headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        });
      });
      const client = new RegistryClient('reg.example.com', { retries: 0 });
      await expect(client.getManifest('app', 'latest')).rejects.toMatchObject({
        code: 'MANIFEST_INVALID',
      });
      expect(sent).toBeLessThan(16 << 20);
    });
  });
});
