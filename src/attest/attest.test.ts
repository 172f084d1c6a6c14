import { readFileSync } from 'node:fs';
import { Validation, Spec } from '@cyclonedx/cyclonedx-library';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../core/digest.js';
import {
  BUILD_TYPE,
  EXTERNAL_PARAMETER_KEYS,
  PREDICATE,
  STATEMENT_TYPE,
  achievedHermeticity,
  buildProvenance,
  buildReproAttestation,
  buildTestResultAttestation,
  cyclonedxJson,
  parseJunit,
  parseStatement,
  sbomModel,
  spdxJson,
  type BuildFacts,
  npmLicense,
  parseDpkgStatus,
} from './index.js';

const d = (s: string): Digest => sha256(s);

/** Facts of a small build: two sources, a host tool, a dependency target and a lock. */
function facts(over: Partial<BuildFacts> & { noLock?: boolean } = {}): BuildFacts {
  const { noLock, ...rest } = over;
  const f: BuildFacts = {
    project: 'demo',
    target: 'web',
    artifact: { name: 'demo/web', digest: d('manifest') },
    actionKey: d('action'),
    configDigest: d('airlock.yaml'),
    source: { uri: 'https://example.com/demo.git', commit: 'a'.repeat(40), ref: 'refs/heads/main' },
    sourceDateEpoch: 1_700_000_000,
    airlockVersion: '0.1.0',
    sandboxProfile: d('profile'),
    platform: { os: 'linux', arch: 'amd64' },
    toolchain: [
      {
        kind: 'host',
        name: 'sh',
        path: '/usr/bin/dash',
        digest: d('dash'),
        deb: { name: 'dash', version: '0.5.12-2', arch: 'amd64' },
      },
    ],
    inputTree: d('tree'),
    inputs: [
      { path: 'src/z.ts', digest: d('z') },
      { path: 'src/a.ts', digest: d('a') },
    ],
    deps: [{ target: 'lib', artifact: d('lib-manifest'), outputs: d('lib-tree') }],
    lock: [
      {
        kind: 'npm',
        name: '@scope/left',
        version: '1.0.0',
        integrity: `sha512-${Buffer.alloc(64, 1).toString('base64')}`,
        license: 'MIT',
        dependsOn: ['right@2.0.0'],
      },
      {
        kind: 'npm',
        name: 'right',
        version: '2.0.0',
        integrity: `sha512-${Buffer.alloc(64, 2).toString('base64')}`,
        license: 'Apache-2.0',
      },
    ],
    logs: [{ step: 0, stdout: d('out'), stderr: d('err') }],
    ...rest,
  };
  if (noLock) delete f.lock;
  return f;
}

const tool = { name: 'airlock', version: '0.1.0' };

describe('provenance', () => {
  const opts = { host: 'ci-1', invocationId: 'inv-1', startedOn: 1_000_000, finishedOn: 2_000_000 };

  it('is an in-toto v1 SLSA provenance statement about the artifact manifest', () => {
    const s = buildProvenance(facts(), opts);
    expect(s._type).toBe(STATEMENT_TYPE);
    expect(s.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(s.subject).toEqual([{ name: 'demo/web', digest: { sha256: d('manifest').slice(7) } }]);
    expect(s.predicate.buildDefinition.buildType).toBe(BUILD_TYPE);
  });

  it('puts only what the user controls in externalParameters', () => {
    const ext = buildProvenance(facts(), opts).predicate.buildDefinition.externalParameters;
    expect(Object.keys(ext).sort()).toEqual([...EXTERNAL_PARAMETER_KEYS].sort());
    expect(ext).toMatchObject({
      target: 'web',
      configDigest: d('airlock.yaml'),
      ref: 'refs/heads/main',
    });
  });

  it('lists source, toolchain, inputs, dependency targets and lock entries with digests', () => {
    const deps = buildProvenance(facts(), opts).predicate.buildDefinition.resolvedDependencies;
    const names = deps.map((x) => x.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(
      expect.arrayContaining([
        'source',
        'inputs',
        'toolchain/sh',
        'target/lib',
        'lock/npm/right@2.0.0',
      ]),
    );
    for (const x of deps) expect(Object.keys(x.digest ?? {})).not.toHaveLength(0);
    expect(deps.find((x) => x.name === 'lock/npm/right@2.0.0')?.digest).toEqual({
      sha512: Buffer.alloc(64, 2).toString('hex'),
    });
  });

  it('records the builder, the clock times, the action key, log digests and the hermeticity with reasons', () => {
    const p = buildProvenance(facts(), { ...opts, builderId: 'https://ci.example/b1' }).predicate;
    expect(p.runDetails.builder.id).toBe('https://ci.example/b1');
    expect(p.runDetails.metadata).toEqual({
      invocationId: 'inv-1',
      startedOn: '1970-01-01T00:16:40Z',
      finishedOn: '1970-01-01T00:33:20Z',
    });
    const by = Object.fromEntries(p.runDetails.byproducts.map((b) => [b.name, b]));
    expect(by['action-key']?.digest).toEqual({ sha256: d('action').slice(7) });
    expect(by['log/step-0/stdout']?.digest).toEqual({ sha256: d('out').slice(7) });
    expect(by.hermeticity?.annotations?.level).toBe(3);
    expect(String(by.hermeticity?.annotations?.reasons)).toMatch(/capped at 3: host toolchain/);
  });

  it('names a local builder on the host by default', () => {
    expect(buildProvenance(facts(), opts).predicate.runDetails.builder.id).toMatch(/local@ci-1$/);
  });

  it('is equal in every field but times and invocation id when built at another time', () => {
    const a = buildProvenance(facts(), opts);
    const b = buildProvenance(facts(), {
      ...opts,
      invocationId: 'x',
      startedOn: 9e12,
      finishedOn: 9.1e12,
    });
    const strip = (s: typeof a): unknown => ({
      ...s,
      predicate: { ...s.predicate, runDetails: { ...s.predicate.runDetails, metadata: null } },
    });
    expect(strip(b)).toEqual(strip(a));
    expect(b.predicate.runDetails.metadata).not.toEqual(a.predicate.runDetails.metadata);
  });
});

describe('hermeticity achieved', () => {
  it('is 4 with an image toolchain and 3 with a host one, never 5 from a build alone', () => {
    expect(achievedHermeticity({ toolchain: [] }).level).toBe(4);
    expect(
      achievedHermeticity({ toolchain: [{ kind: 'image', name: 'x', digest: d('x') }] }).level,
    ).toBe(4);
    expect(
      achievedHermeticity({ toolchain: [{ kind: 'host', name: 'sh', digest: d('x') }] }).level,
    ).toBe(3);
  });
});

describe('SBOM', () => {
  it('CycloneDX 1.6 passes the official schema the library bundles', async () => {
    const json = cyclonedxJson(sbomModel(facts(), tool));
    const err = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json);
    expect(err).toBeNull();
    // The validator is live: a component without a name fails it.
    const broken = json.replace('"name": "src/a.ts"', '"name": 7');
    expect(
      await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(broken),
    ).not.toBeNull();
    const doc = JSON.parse(json) as {
      specVersion: string;
      serialNumber: string;
      metadata: { timestamp: string; component: { purl: string } };
      components: { name: string; purl?: string; licenses?: unknown[] }[];
      dependencies: { ref: string; dependsOn?: string[] }[];
    };
    expect(doc.specVersion).toBe('1.6');
    expect(doc.metadata.timestamp).toBe('2023-11-14T22:13:20.000Z');
    expect(doc.metadata.component.purl).toContain(encodeURIComponent(d('manifest')));
    const names = doc.components.map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining(['src/a.ts', 'sh', 'demo/lib', '@scope/left', 'right']),
    );
    expect(doc.components.find((c) => c.name === 'sh')?.purl).toBe(
      'pkg:deb/debian/dash@0.5.12-2?arch=amd64',
    );
    expect(doc.components.find((c) => c.name === '@scope/left')?.purl).toBe(
      'pkg:npm/%40scope/left@1.0.0',
    );
    expect(doc.dependencies.find((x) => x.ref === 'npm:@scope/left@1.0.0')?.dependsOn).toEqual([
      'npm:right@2.0.0',
    ]);
  });

  it('SPDX 2.3 passes the official schema from spdx-spec', () => {
    const schema = JSON.parse(
      readFileSync(new URL('../../test/fixtures/spdx/spdx-schema.json', import.meta.url), 'utf8'),
    ) as object;
    const validate = new Ajv2019({ strict: false, allErrors: true }).compile(schema);
    const doc = JSON.parse(spdxJson(sbomModel(facts(), tool))) as {
      spdxVersion: string;
      packages: { name: string; licenseDeclared: string }[];
    };
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    // The schema is live: an SPDX id with a space fails it.
    expect(validate({ ...doc, packages: [{ ...doc.packages[0], SPDXID: 'SPDXRef-a b' }] })).toBe(
      false,
    );
    expect(doc.spdxVersion).toBe('SPDX-2.3');
    expect(doc.packages.find((p) => p.name === 'right')?.licenseDeclared).toBe('Apache-2.0');
  });

  it('is byte-identical for the same facts given in another order', () => {
    const f = facts();
    const g = facts({
      inputs: [...f.inputs].reverse(),
      lock: [...(f.lock ?? [])].reverse(),
    });
    expect(cyclonedxJson(sbomModel(g, tool))).toBe(cyclonedxJson(sbomModel(f, tool)));
    expect(spdxJson(sbomModel(g, tool))).toBe(spdxJson(sbomModel(f, tool)));
  });

  it('derives the serial number and namespace from the artifact digest', () => {
    const a = JSON.parse(cyclonedxJson(sbomModel(facts(), tool))) as { serialNumber: string };
    const b = JSON.parse(
      cyclonedxJson(sbomModel(facts({ artifact: { name: 'demo/web', digest: d('other') } }), tool)),
    ) as { serialNumber: string };
    expect(a.serialNumber).toMatch(
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(b.serialNumber).not.toBe(a.serialNumber);
  });

  it('covers sources, toolchain and dependency targets when there is no lock', () => {
    const doc = JSON.parse(cyclonedxJson(sbomModel(facts({ noLock: true }), tool))) as {
      components: { name: string }[];
    };
    expect(doc.components.map((c) => c.name).sort()).toEqual([
      'demo/lib',
      'sh',
      'src/a.ts',
      'src/z.ts',
    ]);
  });
});

describe('reproducibility attestation', () => {
  const a = { outputTree: d('t'), layer: d('l') };
  it('says REPRODUCIBLE only when both builds match', () => {
    const base = {
      artifact: { name: 'demo/web', digest: d('m') },
      a,
      variations: ['clock'],
      differences: [],
    };
    expect(buildReproAttestation({ ...base, b: a }).predicate.result).toBe('REPRODUCIBLE');
    expect(buildReproAttestation({ ...base, b: { ...a, layer: d('l2') } }).predicate.result).toBe(
      'DIFFERENT',
    );
    expect(buildReproAttestation({ ...base, b: a }).predicateType).toBe(PREDICATE.reproducibility);
  });
});

describe('test-result attestation', () => {
  const junit = `<?xml version="1.0"?><testsuite>
    <testcase classname="math" name="adds"/>
    <testcase classname="math" name="divides"><failure message="x"/></testcase>
    <testcase classname="io" name="reads &amp; writes"><skipped/></testcase>
  </testsuite>`;

  it('reads the cases of a JUnit report', () => {
    expect(parseJunit(junit)).toEqual([
      { name: 'math.adds', outcome: 'passed' },
      { name: 'math.divides', outcome: 'failed' },
      { name: 'io.reads & writes', outcome: 'skipped' },
    ]);
  });

  it('is FAILED when a case or a step failed, PASSED when all passed', () => {
    const art = { name: 'demo/web', digest: d('m') };
    const failed = buildTestResultAttestation(art, d('c'), [
      { name: 'step-1', exitCode: 0, junit },
    ]);
    expect(failed.predicate.result).toBe('FAILED');
    expect(failed.predicate.failedTests).toEqual(['step-1: math.divides']);
    expect(failed.predicateType).toBe('https://in-toto.io/attestation/test-result/v0.1');
    expect(
      buildTestResultAttestation(art, d('c'), [{ name: 's', exitCode: 0 }]).predicate.result,
    ).toBe('PASSED');
    expect(
      buildTestResultAttestation(art, d('c'), [{ name: 's', exitCode: 2 }]).predicate.result,
    ).toBe('FAILED');
  });
});

describe('parseStatement', () => {
  const good = Buffer.from(
    JSON.stringify(
      buildReproAttestation({
        artifact: { name: 'x', digest: d('m') },
        a: { outputTree: d('t'), layer: d('l') },
        b: { outputTree: d('t'), layer: d('l') },
        variations: [],
        differences: [],
      }),
    ),
  );

  it('accepts a v1 statement', () => {
    expect(parseStatement(good).predicateType).toBe(PREDICATE.reproducibility);
  });

  it.each([
    [
      'a v0.1 _type',
      (s: Record<string, unknown>) => ({ ...s, _type: 'https://in-toto.io/Statement/v0.1' }),
    ],
    ['no subject', (s: Record<string, unknown>) => ({ ...s, subject: [] })],
    [
      'an uppercase digest',
      (s: Record<string, unknown>) => ({
        ...s,
        subject: [{ name: 'x', digest: { sha256: 'AB' } }],
      }),
    ],
    ['a predicate that is an array', (s: Record<string, unknown>) => ({ ...s, predicate: [] })],
  ])('rejects %s with STATEMENT_INVALID', (_name, mutate) => {
    const s = JSON.parse(good.toString()) as Record<string, unknown>;
    expect(() => parseStatement(Buffer.from(JSON.stringify(mutate(s))))).toThrow(
      expect.objectContaining({ code: 'STATEMENT_INVALID' }),
    );
  });
});

describe('npmLicense', () => {
  it('reads the license field, its old object form and the old licenses list', () => {
    expect(npmLicense({ license: 'MIT' })).toBe('MIT');
    expect(npmLicense({ license: '(MIT OR Apache-2.0)' })).toBe('(MIT OR Apache-2.0)');
    expect(npmLicense({ license: { type: 'ISC' } })).toBe('ISC');
    expect(npmLicense({ licenses: [{ type: 'MIT' }, { type: 'GPL-2.0' }] })).toBe(
      '(MIT OR GPL-2.0)',
    );
  });
  it('gives nothing for no license, UNLICENSED, or text that is no SPDX expression', () => {
    expect(npmLicense({})).toBeUndefined();
    expect(npmLicense({ license: 'UNLICENSED' })).toBeUndefined();
    expect(npmLicense({ license: 'SEE LICENSE IN LICENSE.md' })).toBeUndefined();
    expect(npmLicense({ license: 'MIT AND' })).toBeUndefined();
    expect(npmLicense('MIT')).toBeUndefined();
  });
});

describe('parseDpkgStatus', () => {
  it('lists installed packages only, sorted, ignoring continuation lines', () => {
    const text = [
      'Package: zlib1g',
      'Status: install ok installed',
      'Architecture: amd64',
      'Version: 1:1.2.13.dfsg-1',
      'Description: compression',
      ' Package: not-a-package',
      '',
      'Package: gone',
      'Status: deinstall ok config-files',
      'Architecture: amd64',
      'Version: 1',
      '',
      'Package: libc6',
      'Status: install ok installed',
      'Architecture: i386',
      'Version: 2.36',
      '',
      'Package: libc6',
      'Status: install ok installed',
      'Architecture: amd64',
      'Version: 2.36',
    ].join('\n');
    expect(parseDpkgStatus(text)).toEqual([
      { name: 'libc6', version: '2.36', arch: 'amd64' },
      { name: 'libc6', version: '2.36', arch: 'i386' },
      { name: 'zlib1g', version: '1:1.2.13.dfsg-1', arch: 'amd64' },
    ]);
  });
});
