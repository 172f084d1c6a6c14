// Evidence made by the build itself, in-process: the after-build hook attaches provenance, SBOMs
// and test results to every artifact; the SBOM and provenance read airlock.lock and the fetched
// tarballs; each attachment has an artifact type of its own predicate.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PREDICATE,
  statement,
  type ProvenancePredicate,
  type Statement,
} from '../src/attest/index.js';
import { canonicalJson } from '../src/core/canonical.js';
import { packTarGz } from '../src/archive/index.js';
import { noEvents } from '../src/core/events.js';
import { digestHex, type Digest } from '../src/core/digest.js';
import {
  MEDIA,
  parseManifest,
  referrersIndex,
  referrersTag,
  type Descriptor,
} from '../src/oci/index.js';
import {
  LEGACY_BUNDLE_ARTIFACT_TYPE,
  LEGACY_STATEMENT_ARTIFACT_TYPE,
  PREDICATE_TYPE_ANNOTATION,
  attachBundle,
  bundleArtifactType,
  bundleAttachments,
} from '../src/pipeline/attestations.js';
import { pendingStatements, runSign } from '../src/pipeline/sign.js';
import { runVerify } from '../src/pipeline/verify.js';
import { parsePolicy } from '../src/policy/index.js';
import { BUNDLE_MEDIA_TYPE, encodeKeyPair, generateSigningKey } from '../src/sign/index.js';
import { localReferrers } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { runBuild } from '../src/pipeline/build.js';
import { runSbom } from '../src/pipeline/evidence.js';
import { tempDir } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';

const spdxSchema = JSON.parse(
  readFileSync(new URL('./fixtures/spdx/spdx-schema.json', import.meta.url), 'utf8'),
) as object;

/** The statements attached to `digest` (unsigned, as the build leaves them), by predicate type. */
async function attachedStatements(
  storeRoot: string,
  digest: Digest,
): Promise<{ types: Map<string, string>; statements: Map<string, Statement> }> {
  const store = await Store.open(storeRoot);
  try {
    const types = new Map<string, string>();
    const statements = new Map<string, Statement>();
    for (const d of await localReferrers(store, digest)) {
      const m = parseManifest(await store.getBytes(d.digest), d.mediaType, d.digest);
      if (m.kind !== 'manifest') continue;
      const s = JSON.parse((await store.getBytes(m.layers[0]!.digest)).toString()) as Statement;
      types.set(s.predicateType, d.artifactType ?? '');
      statements.set(s.predicateType, s);
    }
    return { types, statements };
  } finally {
    store.close();
  }
}

describe('evidence at build time', () => {
  const tmp = tempDir('evidence-build');
  afterAll(() => tmp.cleanup());

  it('attaches provenance, both SBOMs and a test-result statement to the artifact, each with its own artifact type, once', async () => {
    const store = join(tmp.path, 'store-tests');
    const project = writeProject(
      join(tmp.path, 'tests'),
      `version: 1
name: t
sourceDateEpoch: 1700000000
targets:
  app:
    sources: ["a.txt"]
    steps:
      - "mkdir -p out && cp a.txt out/"
      - "printf '<testsuite><testcase classname=\\"a\\" name=\\"ok\\"/><testcase classname=\\"a\\" name=\\"bad\\"><failure/></testcase></testsuite>' > out/junit.xml"
    tests:
      - { step: "printf '<testsuite><testcase classname=\\"a\\" name=\\"ok\\"/><testcase classname=\\"a\\" name=\\"bad\\"><failure/></testcase></testsuite>' > out/junit.xml", junit: out/junit.xml }
    outputs: ["out/**"]
`,
    );
    const built = await runBuild({ project, store, targets: [], events: noEvents });
    const artifact = built.targets[0]!.artifact as Digest;
    const { types, statements } = await attachedStatements(store, artifact);
    expect(Object.fromEntries(types)).toEqual({
      [PREDICATE.slsaProvenance]: 'application/vnd.airlock.slsa-provenance.in-toto+json',
      [PREDICATE.cyclonedx]: 'application/vnd.airlock.cyclonedx.in-toto+json',
      [PREDICATE.spdx]: 'application/vnd.airlock.spdx.in-toto+json',
      [PREDICATE.testResult]: 'application/vnd.airlock.test-result.in-toto+json',
    });
    for (const s of statements.values())
      expect(s.subject).toEqual([{ name: 't/app', digest: { sha256: digestHex(artifact) } }]);
    const tests = statements.get(PREDICATE.testResult)!.predicate as {
      result: string;
      passedTests: string[];
      failedTests: string[];
    };
    expect(tests.result).toBe('FAILED');
    expect(tests.failedTests).toEqual([expect.stringMatching(/^step-1: .*: a\.bad$/)]);
    expect(tests.passedTests).toEqual(
      expect.arrayContaining([expect.stringMatching(/^step-1: .*: a\.ok$/)]),
    );

    // Signed, a policy can require the test results: FAILED fails it, with the reason.
    const keyDir = join(tmp.path, 'keys');
    mkdirSync(keyDir);
    const key = generateSigningKey();
    const pair = await encodeKeyPair(key, 'pw');
    writeFileSync(join(keyDir, 'cosign.key'), pair.privatePem);
    writeFileSync(join(keyDir, 'cosign.pub'), pair.publicPem);
    writeFileSync(
      join(keyDir, 'policy.yaml'),
      'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance, test-result]\n',
    );
    const signed = await runSign({
      project,
      store,
      targets: [],
      key: join(keyDir, 'cosign.key'),
      password: 'pw',
      events: noEvents,
    });
    expect(signed.targets[0]!.attachments.map((a) => a.predicateType).sort()).toEqual(
      [...types.keys()].sort(),
    );
    const verdict = await runVerify({
      artifact: artifact,
      policy: join(keyDir, 'policy.yaml'),
      store,
      events: noEvents,
    });
    expect(verdict.rules.find((r) => r.rule === 'require ' + PREDICATE.testResult)?.pass).toBe(
      true,
    );
    expect(verdict.rules.find((r) => r.rule === 'tests')).toEqual({
      rule: 'tests',
      pass: false,
      reason: 'a test-result attestation says "FAILED"',
    });
    expect(verdict.pass).toBe(false);
    // Signing replaced each unsigned statement with its bundle: one attachment per predicate.
    const s0 = await Store.open(store);
    const listed = await localReferrers(s0, artifact);
    s0.close();
    expect(listed.map((d) => d.artifactType).sort()).toEqual([
      'application/vnd.airlock.cyclonedx.sigstore-bundle.v0.3+json',
      'application/vnd.airlock.slsa-provenance.sigstore-bundle.v0.3+json',
      'application/vnd.airlock.spdx.sigstore-bundle.v0.3+json',
      'application/vnd.airlock.test-result.sigstore-bundle.v0.3+json',
    ]);

    // A cached build of an artifact that has its evidence adds nothing.
    const s = await Store.open(store);
    const before = await s.resolveTag(`sha256-${digestHex(artifact)}`);
    s.close();
    const again = await runBuild({ project, store, targets: [], events: noEvents });
    expect(again.targets[0]!.cached).toBe(true);
    const s2 = await Store.open(store);
    expect(await s2.resolveTag(`sha256-${digestHex(artifact)}`)).toEqual(before);
    s2.close();
  });

  it('refuses a test that names no step, at its place in airlock.yaml', async () => {
    const project = writeProject(
      join(tmp.path, 'bad-test'),
      `version: 1
name: t
targets:
  app:
    sources: ["a.txt"]
    steps: ["true"]
    tests: ["npm test"]
    outputs: ["out/**"]
`,
    );
    await expect(
      runBuild({ project, store: join(tmp.path, 'store-bad'), targets: [], events: noEvents }),
    ).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(
        /airlock\.yaml:7:\d+.*"npm test" is not one of the target's steps/s,
      ),
    });
  });
});

/** A .tgz npm would publish: `package/package.json` and `package/index.js`. */
async function tarball(dir: string, manifest: Record<string, unknown>): Promise<Buffer> {
  const src = join(dir, `${String(manifest.name)}-${String(manifest.version)}`);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'package.json'), JSON.stringify(manifest));
  writeFileSync(join(src, 'index.js'), `module.exports = ${JSON.stringify(manifest.name)};\n`);
  const packed = packTarGz(
    [
      { path: 'package/index.js', kind: 'file', absPath: join(src, 'index.js'), executable: false },
      {
        path: 'package/package.json',
        kind: 'file',
        absPath: join(src, 'package.json'),
        executable: false,
      },
    ],
    { mtime: 499162500 },
  );
  const parts: Buffer[] = [];
  for await (const c of packed.stream) parts.push(c);
  await packed.result;
  return Buffer.concat(parts);
}

describe('SBOM and provenance of a target with locked npm packages', () => {
  const tmp = tempDir('evidence-lock');
  const project = join(tmp.path, 'app');
  const stores = [join(tmp.path, 'store-a'), join(tmp.path, 'other', 'place', 'store-b')];
  const artifacts: Digest[] = [];
  let lockText = '';

  beforeAll(async () => {
    // tiny-b needs tiny-a@1.0.0 (top level); tiny-c needs tiny-a@1.0.1, installed under it.
    const pkgs = [
      {
        path: 'node_modules/tiny-a',
        m: { name: 'tiny-a', version: '1.0.0', license: { type: 'ISC' } },
      },
      {
        path: 'node_modules/tiny-b',
        m: {
          name: 'tiny-b',
          version: '2.0.0',
          license: 'MIT',
          dependencies: { 'tiny-a': '1.0.0' },
        },
      },
      {
        path: 'node_modules/tiny-c',
        m: {
          name: 'tiny-c',
          version: '3.0.0',
          license: '(MIT OR Apache-2.0)',
          dependencies: { 'tiny-a': '1.0.1' },
        },
      },
      {
        path: 'node_modules/tiny-c/node_modules/tiny-a',
        m: { name: 'tiny-a', version: '1.0.1', license: 'SEE LICENSE IN LICENSE' },
      },
    ];
    const packages: Record<string, unknown> = {
      '': { name: 'app', version: '1.0.0', dependencies: { 'tiny-b': '2.0.0', 'tiny-c': '3.0.0' } },
    };
    const npmEntries: Record<string, unknown>[] = [];
    const blobs: Buffer[] = [];
    for (const p of pkgs) {
      const tgz = await tarball(join(tmp.path, 'tgz'), p.m);
      const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`;
      const resolved = `https://registry.invalid/${p.m.name}/-/${p.m.name}-${p.m.version}.tgz`;
      const rest: Record<string, unknown> = { ...p.m };
      delete rest.name;
      delete rest.license;
      packages[p.path] = { ...rest, resolved, integrity };
      npmEntries.push({
        integrity,
        name: p.m.name,
        resolved,
        sha256: `sha256:${createHash('sha256').update(tgz).digest('hex')}`,
        version: p.m.version,
      });
      blobs.push(tgz);
    }
    writeProject(
      project,
      `version: 1
name: app
sourceDateEpoch: 1700000000
targets:
  app:
    sources: ["package.json", "package-lock.json", "main.js"]
    npm: { lockfile: package-lock.json }
    toolchain: { host: [node] }
    steps: ["mkdir -p out && node main.js > out/result.txt"]
    outputs: ["out/**"]
`,
      {
        'package.json': JSON.stringify({
          name: 'app',
          version: '1.0.0',
          dependencies: { 'tiny-b': '2.0.0', 'tiny-c': '3.0.0' },
        }),
        'package-lock.json': JSON.stringify({
          name: 'app',
          version: '1.0.0',
          lockfileVersion: 3,
          requires: true,
          packages,
        }),
        'main.js': 'console.log(require("tiny-b"), require("tiny-c"));\n',
      },
    );
    const sorted = [...npmEntries].sort((a, b) =>
      `${String(a.name)}@${String(a.version)}` < `${String(b.name)}@${String(b.version)}` ? -1 : 1,
    );
    lockText = `{\n"format": "airlock.lock/v1",\n"files": [],\n"images": [],\n"npm": [\n${sorted.map((e) => JSON.stringify(Object.fromEntries(Object.entries(e).sort()))).join(',\n')}\n]\n}\n`;
    writeFileSync(join(project, 'airlock.lock'), lockText);
    // What `airlock fetch` leaves: every tarball in each store, by its sha256.
    for (const root of stores) {
      const store = await Store.open(root);
      for (const b of blobs) await store.putBytes(b);
      store.close();
    }
    for (const store of stores) {
      const r = await runBuild({ project, store, targets: [], frozen: true, events: noEvents });
      artifacts.push(r.targets[0]!.artifact as Digest);
    }
  }, 120_000);
  afterAll(() => tmp.cleanup());

  it('lists every npm package of the lock with purl, version, SRI hashes, tarball license and dependency graph, valid CycloneDX 1.6', async () => {
    expect(readFileSync(join(project, 'airlock.lock'), 'utf8')).toBe(lockText); // frozen
    const { statements } = await attachedStatements(stores[0]!, artifacts[0]!);
    const json = JSON.stringify(statements.get(PREDICATE.cyclonedx)!.predicate);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
    const bom = JSON.parse(json) as {
      components: {
        'bom-ref': string;
        name: string;
        version?: string;
        purl?: string;
        hashes?: { alg: string; content: string }[];
        licenses?: { expression?: string }[];
      }[];
      dependencies: { ref: string; dependsOn?: string[] }[];
      metadata: { component: { 'bom-ref': string } };
    };
    const npm = bom.components.filter((c) => c.purl?.startsWith('pkg:npm/'));
    expect(
      npm.map((c) => [c.name, c.version, c.purl, c.licenses?.[0]?.expression ?? null]),
    ).toEqual([
      ['tiny-a', '1.0.0', 'pkg:npm/tiny-a@1.0.0', 'ISC'],
      ['tiny-a', '1.0.1', 'pkg:npm/tiny-a@1.0.1', null],
      ['tiny-b', '2.0.0', 'pkg:npm/tiny-b@2.0.0', 'MIT'],
      ['tiny-c', '3.0.0', 'pkg:npm/tiny-c@3.0.0', '(MIT OR Apache-2.0)'],
    ]);
    for (const c of npm) expect(c.hashes?.map((h) => h.alg).sort()).toEqual(['SHA-256', 'SHA-512']);
    const deps = Object.fromEntries(bom.dependencies.map((d) => [d.ref, d.dependsOn ?? []]));
    expect(deps['npm:tiny-b@2.0.0']).toEqual(['npm:tiny-a@1.0.0']);
    expect(deps['npm:tiny-c@3.0.0']).toEqual(['npm:tiny-a@1.0.1']);
    // The artifact depends directly on the packages nothing else pulls in.
    expect(deps[bom.metadata.component['bom-ref']]).toEqual(
      expect.arrayContaining(['npm:tiny-b@2.0.0', 'npm:tiny-c@3.0.0']),
    );
    expect(deps[bom.metadata.component['bom-ref']]).not.toContain('npm:tiny-a@1.0.0');
  });

  it('writes the same packages into SPDX 2.3 that passes the official schema', async () => {
    const { statements } = await attachedStatements(stores[0]!, artifacts[0]!);
    const doc = statements.get(PREDICATE.spdx)!.predicate as {
      packages: { name: string; versionInfo?: string; licenseDeclared: string }[];
    };
    const validate = new Ajv2019({ strict: false, allErrors: true }).compile(spdxSchema);
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    expect(
      doc.packages
        .filter((p) => p.name.startsWith('tiny-'))
        .map((p) => `${p.name}@${p.versionInfo ?? ''} ${p.licenseDeclared}`)
        .sort(),
    ).toEqual([
      'tiny-a@1.0.0 ISC',
      'tiny-a@1.0.1 NOASSERTION',
      'tiny-b@2.0.0 MIT',
      'tiny-c@3.0.0 (MIT OR Apache-2.0)',
    ]);
  });

  it('lists every lock entry used in the provenance resolvedDependencies, with its digest', async () => {
    const { statements } = await attachedStatements(stores[0]!, artifacts[0]!);
    const p = statements.get(PREDICATE.slsaProvenance)!.predicate as ProvenancePredicate;
    const lock = p.buildDefinition.resolvedDependencies.filter((d) => d.name?.startsWith('lock/'));
    expect(lock.map((d) => [d.name, d.uri])).toEqual([
      ['lock/npm/tiny-a@1.0.0', 'pkg:npm/tiny-a@1.0.0'],
      ['lock/npm/tiny-a@1.0.1', 'pkg:npm/tiny-a@1.0.1'],
      ['lock/npm/tiny-b@2.0.0', 'pkg:npm/tiny-b@2.0.0'],
      ['lock/npm/tiny-c@3.0.0', 'pkg:npm/tiny-c@3.0.0'],
    ]);
    for (const d of lock) expect(d.digest?.sha512).toMatch(/^[0-9a-f]{128}$/);
  });

  it('writes byte-identical SBOMs from two stores at different paths', async () => {
    expect(artifacts[1]).toBe(artifacts[0]);
    for (const format of ['cyclonedx', 'spdx'] as const) {
      const [a, b] = await Promise.all(
        stores.map((store) => runSbom({ project, store, target: 'app', format, events: noEvents })),
      );
      expect(b!.sbom).toBe(a!.sbom);
      expect(a!.sbom).toContain('pkg:npm/tiny-c@3.0.0');
    }
  });

  /** `name@version license` of each tiny-* package of the target's SPDX SBOM in `store`. */
  const spdxLicenses = async (store: string): Promise<string[]> => {
    const { sbom } = await runSbom({
      project,
      store,
      target: 'app',
      format: 'spdx',
      events: noEvents,
    });
    const doc = JSON.parse(sbom) as {
      packages: { name: string; versionInfo?: string; licenseDeclared: string }[];
    };
    return doc.packages
      .filter((p) => p.name.startsWith('tiny-'))
      .map((p) => `${p.name}@${p.versionInfo ?? ''} ${p.licenseDeclared}`)
      .sort();
  };
  const LICENSES = [
    'tiny-a@1.0.0 ISC',
    'tiny-a@1.0.1 NOASSERTION',
    'tiny-b@2.0.0 MIT',
    'tiny-c@3.0.0 (MIT OR Apache-2.0)',
  ];
  const tarballs = (): string[] =>
    (JSON.parse(lockText) as { npm: { sha256: string }[] }).npm.map((e) => e.sha256);

  it('reads the licenses from the tarballs when the store has no note of them, and notes them', async () => {
    const db = new Database(join(stores[0]!, 'airlock', 'v1', 'build.sqlite'));
    const noted = (): number =>
      (db.prepare('SELECT count(*) AS n FROM npm_licenses').get() as { n: number }).n;
    try {
      expect(noted()).toBe(4); // the install noted each tarball it unpacked
      db.exec('DELETE FROM npm_licenses');
      expect(await spdxLicenses(stores[0]!)).toEqual(LICENSES);
      expect(noted()).toBe(4);
    } finally {
      db.close();
    }
  });

  it('notes each license while installing: a later SBOM needs none of the tarballs', async () => {
    // gc may free the tarballs; the licenses the install noted are still known.
    for (const sha of tarballs())
      rmSync(join(stores[1]!, 'blobs', 'sha256', digestHex(sha as Digest)));
    expect(await spdxLicenses(stores[1]!)).toEqual(LICENSES);
  });
});

describe('attachments written with the one shared artifact type of earlier versions', () => {
  const tmp = tempDir('evidence-legacy');
  afterAll(() => tmp.cleanup());

  it('are still read, and attaching again replaces them with per-predicate types', async () => {
    const store = await Store.open(join(tmp.path, 'store'));
    try {
      const subjectBytes = Buffer.from('{"schemaVersion":2}');
      const put = await store.putBytes(subjectBytes);
      const subject = { mediaType: MEDIA.ociManifest, digest: put.digest, size: put.size };
      const repro = statement({ name: 'x/y', digest: put.digest }, PREDICATE.reproducibility, {
        result: 'REPRODUCIBLE',
      });
      // What an earlier Airlock wrote: every bundle and statement under one shared type.
      const legacy: Descriptor[] = [];
      for (const [type, layerType, predicateType, bytes] of [
        [LEGACY_BUNDLE_ARTIFACT_TYPE, BUNDLE_MEDIA_TYPE, PREDICATE.slsaProvenance, '{"old":1}'],
        [
          LEGACY_STATEMENT_ARTIFACT_TYPE,
          LEGACY_STATEMENT_ARTIFACT_TYPE,
          PREDICATE.reproducibility,
          canonicalJson(repro),
        ],
      ] as const) {
        const layer = await store.putBytes(Buffer.from(bytes));
        const config = await store.putBytes(Buffer.from('{}'));
        const annotations = { [PREDICATE_TYPE_ANNOTATION]: predicateType };
        const m = await store.putBytes(
          Buffer.from(
            canonicalJson({
              schemaVersion: 2,
              mediaType: MEDIA.ociManifest,
              artifactType: type,
              config: { mediaType: MEDIA.ociEmpty, digest: config.digest, size: config.size },
              layers: [{ mediaType: layerType, digest: layer.digest, size: layer.size }],
              subject,
              annotations,
            }),
          ),
        );
        legacy.push({
          mediaType: MEDIA.ociManifest,
          digest: m.digest,
          size: m.size,
          artifactType: type,
          annotations,
        });
      }
      const index = await store.putBytes(Buffer.from(JSON.stringify(referrersIndex(legacy))));
      await store.setTag(referrersTag(put.digest), {
        mediaType: MEDIA.ociIndex,
        digest: index.digest,
        size: index.size,
      });

      expect(LEGACY_BUNDLE_ARTIFACT_TYPE).toBe(BUNDLE_MEDIA_TYPE);
      expect((await bundleAttachments(store, put.digest)).map((d) => d.digest)).toEqual([
        legacy[0]!.digest,
      ]);
      expect(await pendingStatements(store, subject)).toEqual([repro]);

      await attachBundle(store, subject, Buffer.from('{"new":1}'), PREDICATE.slsaProvenance);
      await attachBundle(store, subject, Buffer.from('{"new":2}'), PREDICATE.reproducibility);
      const now = await localReferrers(store, put.digest);
      expect(now.map((d) => d.artifactType).sort()).toEqual([
        'application/vnd.airlock.reproducibility.sigstore-bundle.v0.3+json',
        'application/vnd.airlock.slsa-provenance.sigstore-bundle.v0.3+json',
      ]);
      expect(now.map((d) => d.digest)).not.toContain(legacy[0]!.digest);
      expect(now.map((d) => d.digest)).not.toContain(legacy[1]!.digest);
      expect(bundleArtifactType('https://example.com/other/v1')).toBe(
        'application/vnd.airlock.other.sigstore-bundle.v0.3+json',
      );
    } finally {
      store.close();
    }
  });
});

describe('keyless signing and verification', () => {
  it('is refused with KEYLESS_UNSUPPORTED and the key-based fix, before any key or store is read', async () => {
    await expect(
      runSign({
        project: '/nonexistent',
        targets: [],
        key: '',
        password: '',
        keyless: true,
        events: noEvents,
      }),
    ).rejects.toMatchObject({
      code: 'KEYLESS_UNSUPPORTED',
      message: expect.stringContaining('Fulcio'),
      hint: expect.stringContaining('airlock keygen'),
    });
  });
  it('is refused in a policy: identities: gives POLICY_UNSUPPORTED naming keys: as the fix', () => {
    expect(() =>
      parsePolicy(
        'version: 1\nidentities: [{ issuer: https://token.actions.githubusercontent.com, subject: x }]\n',
        'policy.yaml',
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'POLICY_UNSUPPORTED',
        message: expect.stringContaining('trusted root'),
        hint: expect.stringContaining('keys:'),
      }),
    );
  });
});
