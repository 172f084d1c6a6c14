import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../core/errors.js';
import { parseAuthConfig, parseChallenge } from './auth.js';
import { MEDIA, parseManifest } from '../oci/index.js';
import { formatRegistryRef, parseLayoutRef, parseRegistryRef } from './reference.js';
import { retryAfterMs } from './retry.js';

const D = `sha256:${'a'.repeat(64)}`;
const desc = { mediaType: 'x', digest: D, size: 1 };
const bytes = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (isAirlockError(err)) return err.code;
    throw err;
  }
  return undefined;
}

describe('parseRegistryRef', () => {
  it('splits host, repository, tag and digest', () => {
    expect(parseRegistryRef(`127.0.0.1:5000/team/app:1.0@${D}`)).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'team/app',
      tag: '1.0',
      digest: D,
    });
    expect(parseRegistryRef('alpine')).toEqual({
      registry: 'docker.io',
      repository: 'library/alpine',
    });
    expect(formatRegistryRef(parseRegistryRef(`ghcr.io/a/b:x@${D}`))).toBe(`ghcr.io/a/b@${D}`);
  });

  it.each([
    'ghcr.io/a@sha256:../x',
    `ghcr.io/a@sha256:${'A'.repeat(64)}`,
    `ghcr.io/a@sha256:${'a'.repeat(63)}`,
    'ghcr.io/A/b',
    'ghcr.io/a/../b',
    'https://ghcr.io/a',
    'ghcr.io/a:-bad',
  ])('rejects %s with INVALID_REFERENCE', (bad) => {
    expect(codeOf(() => parseRegistryRef(bad))).toBe('INVALID_REFERENCE');
  });

  it('parses oci:<dir>:<tag> layout references', () => {
    expect(parseLayoutRef('oci:/tmp/out:v1')).toEqual({ path: '/tmp/out', tag: 'v1' });
    expect(codeOf(() => parseLayoutRef('oci::v1'))).toBe('INVALID_REFERENCE');
  });
});

describe('parseManifest', () => {
  const manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: desc, layers: [desc] };
  const index = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [desc] };

  it('reads manifests and indexes by media type', () => {
    expect(parseManifest(bytes(manifest), MEDIA.ociManifest, 'r').kind).toBe('manifest');
    expect(parseManifest(bytes(index), undefined, 'r').kind).toBe('index');
  });

  describe('when the document is ambiguous or malformed', () => {
    it.each([
      ['has both manifests and layers (CVE-2021-41190)', { ...manifest, manifests: [desc] }],
      ['is an index with config', { ...index, config: desc }],
      ['has no media type', { schemaVersion: 2, config: desc, layers: [] }],
      ['has a bad digest', { ...manifest, layers: [{ ...desc, digest: 'sha256:../x' }] }],
      ['has a negative size', { ...manifest, layers: [{ ...desc, size: -1 }] }],
      ['has schemaVersion 1', { ...manifest, schemaVersion: 1 }],
      ['has an unknown media type', { ...manifest, mediaType: 'text/plain' }],
    ])('rejects a document that %s', (_why, doc) => {
      expect(codeOf(() => parseManifest(bytes(doc), undefined, 'r'))).toBe('MANIFEST_INVALID');
    });

    it('rejects a Content-Type that disagrees with the mediaType field', () => {
      expect(codeOf(() => parseManifest(bytes(manifest), MEDIA.ociIndex, 'r'))).toBe(
        'MANIFEST_INVALID',
      );
    });
  });
});

describe('parseChallenge', () => {
  it('reads Bearer realm, service and scope', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.io/token",service="reg",scope="repository:a/b:pull,push"',
        'r',
      ),
    ).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.io/token',
      service: 'reg',
      scope: 'repository:a/b:pull,push',
    });
    expect(parseChallenge('Basic realm="x"', 'r')).toEqual({ scheme: 'basic', realm: 'x' });
  });

  it.each([
    'Bearer service="x"',
    'Bearer realm="ftp://x"',
    'Bearer realm="https://x" garbage',
    'Negotiate abc',
    '',
  ])('rejects %j', (h) => {
    expect(codeOf(() => parseChallenge(h, 'r'))).toBe('AUTH_CHALLENGE_INVALID');
  });
});

describe('parseAuthConfig', () => {
  it('reads base64 auth and username/password entries, keyed by host', () => {
    const auth = Buffer.from('ann:p:w').toString('base64');
    const m = parseAuthConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth },
          'r.io:5000': { username: 'u', password: 'p' },
        },
      }),
    );
    expect(m.get('docker.io')).toEqual({ username: 'ann', password: 'p:w' });
    expect(m.get('r.io:5000')).toEqual({ username: 'u', password: 'p' });
    expect(parseAuthConfig('not json').size).toBe(0);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, capped', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs('9999', 0)).toBe(30_000);
    expect(retryAfterMs(new Date(5000).toUTCString(), 1000)).toBe(4000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
  });
});
