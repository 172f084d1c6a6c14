import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../core/index.js';
import {
  MEDIA,
  artifactTypeOf,
  canHaveSubject,
  checkDescriptor,
  manifestDescriptor,
  ociArch,
  parseDescriptor,
  parseManifest,
  referrersIndex,
  referrersTag,
  refersTo,
  withReferrer,
  type Descriptor,
} from './index.js';

const D1 = `sha256:${'1'.repeat(64)}` as const;
const D2 = `sha256:${'2'.repeat(64)}` as const;
const bytes = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

describe('descriptors', () => {
  it('keeps the known fields of a valid descriptor and drops the rest', () => {
    expect(
      parseDescriptor({
        mediaType: 'x',
        digest: D1,
        size: 3,
        artifactType: 'a',
        annotations: { k: 'v' },
        urls: ['http://example.com'],
      }),
    ).toEqual({ mediaType: 'x', digest: D1, size: 3, artifactType: 'a', annotations: { k: 'v' } });
  });

  it.each([
    [[], 'd is not an object'],
    [{ digest: D1, size: 1 }, 'd.mediaType is missing'],
    [
      { mediaType: 'x', digest: 'sha256:../x', size: 1 },
      'd.digest "sha256:../x" is not a valid sha256 digest',
    ],
    [{ mediaType: 'x', digest: D1, size: -1 }, 'd.size is not a non-negative integer'],
    [{ mediaType: 'x', digest: D1, size: 2 ** 60 }, 'd.size is not a non-negative integer'],
    [{ mediaType: 'x', digest: D1, size: 1, artifactType: 1 }, 'd.artifactType is not a string'],
    [
      { mediaType: 'x', digest: D1, size: 1, annotations: { k: 1 } },
      'd.annotations.k is not a string',
    ],
  ])('names the field at fault in %j', (value, message) => {
    const checked = checkDescriptor(value, 'd');
    expect('problem' in checked && `${checked.problem.path} ${checked.problem.why}`).toBe(message);
    try {
      parseDescriptor(value, 'd');
      expect.unreachable();
    } catch (err) {
      expect(isAirlockError(err, 'INVALID_DESCRIPTOR')).toBe(true);
      expect((err as Error).message).toBe(message);
    }
  });
});

describe('referrers and subjects', () => {
  const subject: Descriptor = { mediaType: MEDIA.ociManifest, digest: D1, size: 10 };
  const sbom = parseManifest(
    bytes({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: 'application/spdx+json', digest: D2, size: 2 },
      layers: [],
      subject,
      annotations: { a: 'b' },
    }),
    undefined,
    'r',
  );

  it('takes the artifact type from the config media type when the manifest has none', () => {
    expect(artifactTypeOf(sbom)).toBe('application/spdx+json');
    expect(manifestDescriptor(sbom, D2, 5)).toEqual({
      mediaType: MEDIA.ociManifest,
      digest: D2,
      size: 5,
      artifactType: 'application/spdx+json',
      annotations: { a: 'b' },
    });
  });

  it('says a manifest refers to its subject digest only', () => {
    expect(refersTo(sbom, D1)).toBe(true);
    expect(refersTo(sbom, D2)).toBe(false);
    expect(canHaveSubject(MEDIA.ociManifest)).toBe(true);
    expect(canHaveSubject(MEDIA.dockerManifest)).toBe(false);
  });

  it('lists a referrer once under the sha256-<hex> tag, replacing an older entry', () => {
    const a: Descriptor = { mediaType: MEDIA.ociManifest, digest: D2, size: 1 };
    const listed = withReferrer(withReferrer([a], { ...a, size: 2 }), a);
    expect(listed).toEqual([a]);
    expect(referrersIndex(listed)).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [a],
    });
    expect(referrersTag(D1)).toBe(`sha256-${'1'.repeat(64)}`);
  });
});

describe('platforms', () => {
  it('names Node architectures as OCI does', () => {
    expect(['x64', 'arm64', 'ia32', 'riscv64'].map(ociArch)).toEqual([
      'amd64',
      'arm64',
      '386',
      'riscv64',
    ]);
  });
});
