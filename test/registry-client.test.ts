import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError, type AirlockEvent } from '../src/core/index.js';
import { RegistryClient, staticCredentials, type BlobSource } from '../src/registry/index.js';
import {
  digestOf,
  listen,
  startAuthProxy,
  startRegistry,
  startTcpProxy,
  type TestRegistry,
} from './helpers/registry.js';

const fast = { sleep: async () => {}, retries: 3 };

function source(data: Uint8Array): BlobSource {
  return {
    digest: digestOf(data),
    size: data.byteLength,
    async *open(offset: number) {
      await Promise.resolve();
      for (let i = offset; i < data.byteLength; i += 64 * 1024)
        yield data.subarray(i, Math.min(data.byteLength, i + 64 * 1024));
    },
  };
}

async function rejection(
  p: Promise<unknown>,
): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (isAirlockError(err))
      return { code: err.code, message: err.message, details: { ...err.details } };
    throw err;
  }
  throw new Error('expected a rejection');
}

async function drain(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

let reg: TestRegistry;
beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  await reg.stop();
});

const client = (
  host = reg.host,
  extra: ConstructorParameters<typeof RegistryClient>[1] = {},
): RegistryClient => new RegistryClient(host, { insecure: [host], ...fast, ...extra });

describe('RegistryClient against distribution 2.8', () => {
  it('pings /v2/', async () => {
    await expect(client().ping()).resolves.toBeUndefined();
  });

  it('refuses plain http for a registry not marked insecure', async () => {
    const c = new RegistryClient(reg.host, fast);
    expect(c.origin).toBe(`https://${reg.host}`);
    const err = await rejection(c.ping());
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
  });

  it('uploads a blob once and skips it (0 bytes) when the registry has it', async () => {
    const data = randomBytes(300_000);
    const c = client();
    expect(await c.pushBlob('t/blob', source(data))).toBe('uploaded');
    expect(c.stats.uploadedBytes).toBe(data.byteLength);
    expect(await c.pushBlob('t/blob', source(data))).toBe('exists');
    expect(c.stats.uploadedBytes).toBe(data.byteLength);
    expect(await c.hasBlob('t/blob', digestOf(data))).toBe(true);
    const back = await drain(
      c.blobStream('t/blob', { mediaType: 'x', digest: digestOf(data), size: data.byteLength }),
    );
    expect(back.equals(data)).toBe(true);
  });

  it('never commits an upload whose bytes do not hash to the claimed digest', async () => {
    const data = randomBytes(10_000);
    const claimed = digestOf('something else');
    const c = client();
    const err = await rejection(c.pushBlob('t/corrupt', { ...source(data), digest: claimed }));
    expect(err.code).toBe('INTEGRITY_MISMATCH');
    expect(await c.hasBlob('t/corrupt', claimed)).toBe(false);
    expect(await c.hasBlob('t/corrupt', digestOf(data))).toBe(false);
  });

  it('uploads in PATCH chunks and mounts across repositories', async () => {
    const data = randomBytes(200_001);
    const c = client(reg.host, { chunkSize: 65_536 });
    expect(await c.pushBlob('t/chunked', source(data))).toBe('uploaded');
    expect(await c.pushBlob('t/mounted', source(data), { mountFrom: 't/chunked' })).toBe('mounted');
    expect(await c.hasBlob('t/mounted', digestOf(data))).toBe(true);
  });

  it('rejects a blob whose content does not match the descriptor before the stream ends', async () => {
    const data = randomBytes(1000);
    const c = client();
    await c.pushBlob('t/tamper', source(data));
    const wrongDigest = { mediaType: 'x', digest: digestOf('other'), size: 1000 };
    expect((await rejection(drain(c.blobStream('t/tamper', wrongDigest)))).code).toBe(
      'REGISTRY_NOT_FOUND',
    );
    const lies = { mediaType: 'x', digest: digestOf(data), size: 999 };
    const err = await rejection(drain(c.blobStream('t/tamper', lies)));
    expect(err.code).toBe('SIZE_MISMATCH');
    expect(err.message).toContain(`t/tamper@${digestOf(data)}`);
  });

  it('puts and gets manifests by tag and digest and lists tags across pages', async () => {
    const c = client();
    const cfg = Buffer.from('{}');
    await c.pushBlob('t/man', source(cfg));
    const doc = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.airlock.test',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(cfg), size: 2 },
      layers: [],
    };
    const bytes = Buffer.from(JSON.stringify(doc));
    for (const tag of ['a', 'b', 'c', 'd', 'e']) {
      const put = await c.putManifest('t/man', tag, bytes, doc.mediaType);
      expect(put.descriptor.digest).toBe(digestOf(bytes));
    }
    const byTag = await c.getManifest('t/man', 'c');
    expect(byTag.descriptor.digest).toBe(digestOf(bytes));
    expect(byTag.descriptor.artifactType).toBe('application/vnd.airlock.test');
    const byDigest = await c.getManifest('t/man', digestOf(bytes));
    expect(byDigest.manifest.kind).toBe('manifest');
    expect(await c.listTags('t/man', 2)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect((await rejection(c.getManifest('t/man', 'nope'))).code).toBe('REGISTRY_NOT_FOUND');
    expect((await rejection(c.getManifest('t/man', 'sha256:../x'))).code).toBe('INVALID_DIGEST');
    expect((await rejection(c.getManifest('t/man', `sha256:${'A'.repeat(64)}`))).code).toBe(
      'INVALID_DIGEST',
    );
  });

  it('falls back to the sha256-<hex> tag index for referrers (no referrers API in 2.8)', async () => {
    const c = client();
    const empty = Buffer.from('{}');
    await c.pushBlob('t/ref', source(empty));
    const put = async (
      artifactType: string,
      subject?: { mediaType: string; digest: string; size: number },
    ) => {
      const doc = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType,
        config: {
          mediaType: 'application/vnd.oci.empty.v1+json',
          digest: digestOf(empty),
          size: 2,
        },
        layers: [],
        ...(subject ? { subject } : {}),
      };
      const bytes = Buffer.from(JSON.stringify(doc));
      const r = await c.putManifest('t/ref', digestOf(bytes), bytes, doc.mediaType);
      expect(r.subjectAccepted).toBe(false);
      return { ...r.descriptor, artifactType };
    };
    const subject = await put('application/vnd.airlock.artifact');
    expect(await c.referrers('t/ref', subject.digest)).toEqual({ via: 'tag', descriptors: [] });
    const sig = await put('application/vnd.dev.sigstore.bundle.v0.3+json', subject);
    const sbom = await put('application/vnd.cyclonedx+json', subject);
    await c.addReferrerFallback('t/ref', subject.digest, sig);
    await c.addReferrerFallback('t/ref', subject.digest, sbom);
    await c.addReferrerFallback('t/ref', subject.digest, sig);
    const all = await c.referrers('t/ref', subject.digest);
    expect(all.via).toBe('tag');
    expect(all.descriptors.map((d) => d.artifactType)).toEqual([
      sbom.artifactType,
      sig.artifactType,
    ]);
    const onlySboms = await c.referrers('t/ref', subject.digest, {
      artifactType: sbom.artifactType,
    });
    expect(onlySboms.descriptors).toEqual([sbom]);
  });
});

describe('interrupted transfers (TCP proxy on 127.0.0.1)', () => {
  // The cuts count request-body bytes of the next PATCH, so where they land does
  // not depend on timing. The registry may answer the status request after a cut
  // before the cut PATCH's bytes reach its disk; it then reports `Range: 0-0`,
  // which distribution also sends for an empty session (second test).
  it('resumes an upload cut mid-PATCH from the offset the registry reports', async () => {
    const proxy = await startTcpProxy(reg.port);
    try {
      const data = randomBytes(1_500_000);
      const events: AirlockEvent[] = [];
      const c = client(proxy.host, { events: (e) => events.push(e) });
      await c.ping();
      proxy.cutNext('upload', 700_000, { afterHeadersOf: 'PATCH' });
      expect(await c.pushBlob('t/resume', source(data))).toBe('uploaded');
      expect(proxy.cuts).toBe(1);
      expect(c.stats.retries).toBeGreaterThan(0);
      expect(events.some((e) => e.type === 'log' && e.level === 'warn')).toBe(true);
      const back = await drain(
        client().blobStream('t/resume', {
          mediaType: 'x',
          digest: digestOf(data),
          size: data.byteLength,
        }),
      );
      expect(back.equals(data)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('starts a fresh session when a PATCH is cut before its body and the registry reports Range 0-0', async () => {
    const proxy = await startTcpProxy(reg.port);
    try {
      const data = randomBytes(300_000);
      const c = client(proxy.host);
      await c.ping();
      proxy.cutNext('upload', 0, { afterHeadersOf: 'PATCH' });
      expect(await c.pushBlob('t/resume-empty', source(data))).toBe('uploaded');
      expect(proxy.cuts).toBe(1);
      const back = await drain(
        client().blobStream('t/resume-empty', {
          mediaType: 'x',
          digest: digestOf(data),
          size: data.byteLength,
        }),
      );
      expect(back.equals(data)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('resumes a download reset mid-stream and still verifies the whole blob', async () => {
    const data = randomBytes(1_200_000);
    await client().pushBlob('t/dl', source(data));
    const proxy = await startTcpProxy(reg.port);
    try {
      const c = client(proxy.host);
      await c.ping();
      proxy.cutNext('download', 500_000);
      const back = await drain(
        c.blobStream('t/dl', { mediaType: 'x', digest: digestOf(data), size: data.byteLength }),
      );
      expect(proxy.cuts).toBe(1);
      expect(back.equals(data)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('reports a registry that is down as REGISTRY_UNREACHABLE after retrying', async () => {
    const proxy = await startTcpProxy(1);
    const host = proxy.host;
    await proxy.stop();
    const c = client(host);
    const err = await rejection(c.ping());
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
    expect(c.stats.retries).toBe(3);
  });
});

describe('authentication', () => {
  it('gets a least-scope bearer token with the stored credential and retries', async () => {
    const proxy = await startAuthProxy(reg, {
      mode: 'bearer',
      username: 'ann',
      password: 's3cret',
    });
    try {
      const c = client(proxy.host, {
        credentials: staticCredentials({ [proxy.host]: { username: 'ann', password: 's3cret' } }),
      });
      const data = randomBytes(5000);
      expect(await c.pushBlob('t/auth', source(data))).toBe('uploaded');
      expect(await c.hasBlob('t/auth', digestOf(data))).toBe(true);
      expect(proxy.tokensIssued).toContain('test-registry|repository:t/auth:pull');
      // The credential itself only ever went to the token endpoint, never to /v2/.
      const basicToV2 = proxy.seen.filter((l) => l.includes(' /v2/') && l.includes('Basic '));
      expect(basicToV2).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('sends basic auth when the registry asks for it, and fails typed on a wrong password', async () => {
    const proxy = await startAuthProxy(reg, { mode: 'basic', username: 'bob', password: 'pw' });
    try {
      const good = client(proxy.host, {
        credentials: staticCredentials({ [proxy.host]: { username: 'bob', password: 'pw' } }),
      });
      expect(await good.listTags('t/man')).toContain('a');
      const bad = client(proxy.host, {
        credentials: staticCredentials({ [proxy.host]: { username: 'bob', password: 'no' } }),
      });
      expect((await rejection(bad.listTags('t/man'))).code).toBe('REGISTRY_UNAUTHORIZED');
      const anon = client(proxy.host);
      const err = await rejection(anon.listTags('t/man'));
      expect(err.code).toBe('REGISTRY_UNAUTHORIZED');
      expect(err.message).not.toContain('pw');
    } finally {
      await proxy.stop();
    }
  });

  it('rejects a malformed WWW-Authenticate challenge', async () => {
    const proxy = await startAuthProxy(reg, {
      mode: 'bearer',
      username: 'a',
      password: 'b',
      challenge: 'Bearer service="x"',
    });
    try {
      expect((await rejection(client(proxy.host).ping())).code).toBe('AUTH_CHALLENGE_INVALID');
    } finally {
      await proxy.stop();
    }
  });
});

describe('against a misbehaving registry (in-test server)', () => {
  it('retries 429 honouring Retry-After, then succeeds', async () => {
    let calls = 0;
    const waits: number[] = [];
    const srv = await listen((_req, res) => {
      calls++;
      if (calls < 3) res.writeHead(429, { 'retry-after': '2' }).end();
      else res.writeHead(200).end('{}');
    });
    try {
      const c = client(srv.host, { sleep: (ms: number) => Promise.resolve(void waits.push(ms)) });
      await c.ping();
      expect(waits).toEqual([2000, 2000]);
    } finally {
      await srv.stop();
    }
  });

  it('maps 403, 404 and a persistent 500 to typed errors', async () => {
    const srv = await listen((req, res) => {
      const status = req.url?.includes('forbidden')
        ? 403
        : req.url?.includes('missing')
          ? 404
          : 500;
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"X","message":"nope"}]}');
    });
    try {
      const c = client(srv.host);
      expect((await rejection(c.listTags('forbidden'))).code).toBe('REGISTRY_DENIED');
      expect((await rejection(c.listTags('missing'))).code).toBe('REGISTRY_NOT_FOUND');
      const err = await rejection(c.listTags('broken'));
      expect(err.code).toBe('REGISTRY_ERROR');
      expect(err.details['status']).toBe(500);
      expect(c.stats.retries).toBe(3);
    } finally {
      await srv.stop();
    }
  });

  it('rejects a manifest that does not hash to the requested digest, or whose digest header lies', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [],
    });
    const srv = await listen((req, res) => {
      const lie = req.url?.includes('lie');
      res
        .writeHead(200, {
          'content-type': 'application/vnd.oci.image.index.v1+json',
          'docker-content-digest': lie ? digestOf('x') : digestOf(body),
        })
        .end(body);
    });
    try {
      const c = client(srv.host);
      expect((await rejection(c.getManifest('r', digestOf('other')))).code).toBe(
        'INTEGRITY_MISMATCH',
      );
      expect((await rejection(c.getManifest('lie', 'latest'))).code).toBe('DIGEST_HEADER_MISMATCH');
      expect((await c.getManifest('ok', digestOf(body))).manifest.kind).toBe('index');
    } finally {
      await srv.stop();
    }
  });

  it('uses the referrers API when present and filters by artifactType if the registry did not', async () => {
    const subject = digestOf('subject');
    const descs = [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: digestOf('1'),
        size: 1,
        artifactType: 'a/sig',
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: digestOf('2'),
        size: 2,
        artifactType: 'a/sbom',
      },
    ];
    const srv = await listen((req, res) => {
      if (req.url?.startsWith(`/v2/app/referrers/${subject}`)) {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
        res.end(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: descs,
          }),
        );
      } else res.writeHead(404).end();
    });
    try {
      const c = client(srv.host);
      expect(await c.referrers('app', subject)).toEqual({ via: 'api', descriptors: descs });
      expect((await c.referrers('app', subject, { artifactType: 'a/sbom' })).descriptors).toEqual([
        descs[1],
      ]);
      expect(srv.seen.some((l) => l.includes('artifactType=a%2Fsbom'))).toBe(true);
    } finally {
      await srv.stop();
    }
  });

  it('rejects a tampered blob with INTEGRITY_MISMATCH naming the reference', async () => {
    const good = Buffer.from('good content');
    const srv = await listen((_req, res) => res.writeHead(200).end('evil content'));
    try {
      const err = await rejection(
        drain(
          client(srv.host).blobStream('app', {
            mediaType: 'x',
            digest: digestOf(good),
            size: good.length,
          }),
        ),
      );
      expect(err.code).toBe('INTEGRITY_MISMATCH');
      expect(err.message).toContain(`/app@${digestOf(good)}`);
    } finally {
      await srv.stop();
    }
  });

  it('follows a blob redirect to another host without sending the Authorization header', async () => {
    const data = Buffer.from('redirected blob');
    const storage = await listen((_req, res) => res.writeHead(200).end(data));
    const srv = await listen((req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
        return;
      }
      res.writeHead(307, { location: `http://${storage.host}/bucket/blob` }).end();
    });
    try {
      const c = client(srv.host, {
        insecure: [srv.host],
        credentials: staticCredentials({ [srv.host]: { username: 'u', password: 'p' } }),
      });
      const back = await drain(
        c.blobStream('app', { mediaType: 'x', digest: digestOf(data), size: data.length }),
      );
      expect(back.equals(data)).toBe(true);
      // Another process on the machine may probe a port the OS handed to this
      // server (a router's health check of a container that is gone): only
      // the client's requests are counted, and no request carried credentials.
      expect(storage.seen.filter((l) => l.includes(' /bucket/'))).toEqual(['GET /bucket/blob -']);
      expect(storage.seen.filter((l) => !l.endsWith(' -'))).toEqual([]);
    } finally {
      await srv.stop();
      await storage.stop();
    }
  });
});
