// Evidence through the compiled CLI: sign the demo's last build, verify it offline against a
// policy, regenerate SBOM and provenance in a second store, and check the bundles independently.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/store/index.js';
import { parseManifest, referrersTag } from '../src/oci/index.js';
import { BUNDLE_MEDIA_TYPE, decodePrivateKey, decodePublicKey } from '../src/sign/index.js';
import type { Digest } from '../src/core/digest.js';
import type { ProvenancePredicate, Statement } from '../src/attest/index.js';
import { CLI, copyDemo, runCli, tempDir } from './helpers/cli.js';

const PASSWORD = 'evidence test password';
const env = { AIRLOCK_PASSWORD: PASSWORD };

interface VerifyJson {
  ok: boolean;
  pass: boolean;
  digest: string;
  rules: { rule: string; pass: boolean; reason: string }[];
}

/** The statements (decoded DSSE payloads) and raw bundles attached to `digest` in `store`. */
async function attached(
  storeRoot: string,
  digest: Digest,
): Promise<{ bundles: Buffer[]; statements: Record<string, unknown>[]; listed: number }> {
  const store = await Store.open(storeRoot);
  try {
    const idx = await store.resolveTag(referrersTag(digest));
    const index = parseManifest(await store.getBytes(idx!.digest), idx!.mediaType, 'idx');
    const bundles: Buffer[] = [];
    if (index.kind !== 'index') throw new Error('not an index');
    const listed = index.manifests.filter((d) => d.artifactType === BUNDLE_MEDIA_TYPE);
    for (const d of listed) {
      const m = parseManifest(await store.getBytes(d.digest), d.mediaType, d.digest);
      if (m.kind === 'manifest') bundles.push(await store.getBytes(m.layers[0]!.digest));
    }
    const statements = bundles.map(
      (b) =>
        JSON.parse(
          Buffer.from(
            (JSON.parse(b.toString()) as { dsseEnvelope: { payload: string } }).dsseEnvelope
              .payload,
            'base64',
          ).toString(),
        ) as Record<string, unknown>,
    );
    return { bundles, statements, listed: listed.length };
  } finally {
    store.close();
  }
}

describe('airlock sign and verify on the demo', () => {
  const tmp = tempDir('evidence');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'demo');
  const policyFile = join(tmp.path, 'policy', 'policy.yaml');
  let artifact: Digest;

  beforeAll(async () => {
    copyDemo(project);
    const b = await runCli(['--json', '--store', store, 'build', '-C', project, 'server']);
    expect(b.status, b.stderr).toBe(0);
    artifact = (
      JSON.parse(b.stdout) as { targets: { name: string; artifact: Digest }[] }
    ).targets.find((t) => t.name === 'server')!.artifact;
    mkdirSync(join(tmp.path, 'policy'));
    expect((await runCli(['keygen', '--dir', join(tmp.path, 'policy')], { env })).status).toBe(0);
    writeFileSync(
      policyFile,
      'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance, cyclonedx, spdx]\nminLevel: 3\n',
    );
    const s = await runCli(
      [
        '--store',
        store,
        'sign',
        '-C',
        project,
        'server',
        '--key',
        join(tmp.path, 'policy', 'cosign.key'),
      ],
      { env },
    );
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout + s.stderr).not.toContain(PASSWORD);
  });
  afterAll(() => tmp.cleanup());

  it('attaches provenance, CycloneDX and SPDX bundles that pass the policy', async () => {
    const r = await runCli([
      '--json',
      '--store',
      store,
      'verify',
      'demo/server',
      '--policy',
      policyFile,
    ]);
    const v = JSON.parse(r.stdout) as VerifyJson;
    expect(v.rules.filter((x) => !x.pass)).toEqual([]);
    expect(r.status).toBe(0);
    expect(v.digest).toBe(artifact);
  });

  it('writes bundles that @sigstore/verify accepts when called directly with the public key', async () => {
    const pub = decodePublicKey(readFileSync(join(tmp.path, 'policy', 'cosign.pub'), 'utf8'));
    const verifier = new Verifier(
      {
        certificateAuthorities: [],
        timestampAuthorities: [],
        tlogs: [],
        ctlogs: [],
        publicKey: () => ({ publicKey: pub.publicKey, validFor: () => true }),
      },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    );
    const { bundles, statements } = await attached(store, artifact);
    expect(statements.map((s) => s.predicateType).sort()).toEqual([
      'https://cyclonedx.org/bom',
      'https://slsa.dev/provenance/v1',
      'https://spdx.dev/Document',
    ]);
    for (const b of bundles) {
      expect(() =>
        verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(b.toString())))),
      ).not.toThrow();
    }
  });

  it('replaces the bundles when signing again instead of adding more', async () => {
    const s = await runCli(
      [
        '--store',
        store,
        'sign',
        '-C',
        project,
        'server',
        '--key',
        join(tmp.path, 'policy', 'cosign.key'),
      ],
      { env },
    );
    expect(s.status, s.stderr).toBe(0);
    expect((await attached(store, artifact)).listed).toBe(3);
  });

  it('makes no network call: it verifies in a namespace with no network', () => {
    const r = spawnSync(
      'unshare',
      [
        '-n',
        process.execPath,
        CLI,
        '--json',
        '--store',
        store,
        'verify',
        'demo/server',
        '--policy',
        policyFile,
      ],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as VerifyJson).pass).toBe(true);
  });

  it('fails with a reason per rule and exit 1 under a stricter policy', async () => {
    const strict = join(tmp.path, 'policy', 'strict.yaml');
    writeFileSync(
      strict,
      'version: 1\nkeys: [cosign.pub]\nrequire: [reproducibility]\nbuilder: https://ci.example/b1\nminLevel: 5\n',
    );
    const r = await runCli([
      '--json',
      '--store',
      store,
      'verify',
      'demo/server',
      '--policy',
      strict,
    ]);
    expect(r.status).toBe(1);
    const failed = (JSON.parse(r.stdout) as VerifyJson).rules
      .filter((x) => !x.pass)
      .map((x) => x.rule);
    expect(failed).toEqual(
      expect.arrayContaining([
        'require https://airlock.dev/attestation/reproducibility/v1',
        'minLevel',
        expect.stringMatching(/^builder /),
      ]),
    );
  });

  it('refuses a policy with a mistake, naming file:line:col', async () => {
    const bad = join(tmp.path, 'policy', 'bad.yaml');
    writeFileSync(bad, 'version: 1\nkeys: [cosign.pub]\nbuilderr: x\n');
    const r = await runCli(['--store', store, 'verify', 'demo/server', '--policy', bad]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${bad}:3:1: unknown key "builderr"`);
  });

  it('regenerates a byte-identical SBOM from a second store at another path', async () => {
    const store2 = join(tmp.path, 'elsewhere', 'store2');
    expect((await runCli(['--store', store2, 'build', '-C', project, 'server'])).status).toBe(0);
    for (const format of ['cyclonedx', 'spdx']) {
      const a = await runCli([
        '--store',
        store,
        'sbom',
        '-C',
        project,
        'server',
        '--format',
        format,
      ]);
      const b = await runCli([
        '--store',
        store2,
        'sbom',
        '-C',
        project,
        'server',
        '--format',
        format,
      ]);
      expect(a.status, a.stderr).toBe(0);
      expect(b.stdout).toBe(a.stdout);
      expect(a.stdout).toContain(artifact.slice(7));
    }
  });

  it('names the Debian package of a host toolchain binary when dpkg knows it', async () => {
    const sbom = JSON.parse(
      (await runCli(['--store', store, 'sbom', '-C', project, 'server'])).stdout,
    ) as { components: { name: string; purl?: string; hashes: { content: string }[] }[] };
    const node = sbom.components.find((c) => c.name === 'node');
    expect(node?.hashes[0]?.content).toMatch(/^[0-9a-f]{64}$/);
    const real = realpathSync(
      spawnSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).stdout.trim(),
    );
    const owner = spawnSync('dpkg-query', ['-S', real], { encoding: 'utf8' });
    const pkg = owner.status === 0 ? /^([^:\s]+)/.exec(owner.stdout)?.[1] : undefined;
    if (pkg) expect(node?.purl).toMatch(new RegExp(`^pkg:deb/debian/${pkg}@[^?]+\\?arch=`));
    else expect(node?.purl).toBeUndefined();
  });

  it('regenerates provenance in a second store equal in every field but the times and invocation id', async () => {
    const store2 = join(tmp.path, 'elsewhere', 'store2');
    const key = join(tmp.path, 'policy', 'cosign.key');
    expect(
      (await runCli(['--store', store2, 'sign', '-C', project, 'server', '--key', key], { env }))
        .status,
    ).toBe(0);
    const prov = async (root: string): Promise<Statement<ProvenancePredicate>> =>
      (await attached(root, artifact)).statements.find(
        (s) => s.predicateType === 'https://slsa.dev/provenance/v1',
      ) as unknown as Statement<ProvenancePredicate>;
    const a = await prov(store);
    const b = await prov(store2);
    const strip = (p: Statement<ProvenancePredicate>): unknown => ({
      ...p,
      predicate: { ...p.predicate, runDetails: { ...p.predicate.runDetails, metadata: null } },
    });
    expect(strip(b)).toEqual(strip(a));
    expect(Object.keys(b.predicate.runDetails.metadata).sort()).toEqual([
      'finishedOn',
      'invocationId',
      'startedOn',
    ]);
  });

  it('signs the reproducibility attestation `airlock repro` attaches, and a policy can require it', async () => {
    const r = await runCli(['--json', '--store', store, 'repro', 'server', '-C', project]);
    expect(r.status, r.stderr).toBe(0);
    const repro = JSON.parse(r.stdout) as { artifact: string; attestation: string };
    expect(repro.artifact).toBe(artifact);
    const key = join(tmp.path, 'policy', 'cosign.key');
    expect(
      (await runCli(['--store', store, 'sign', '-C', project, 'server', '--key', key], { env }))
        .status,
    ).toBe(0);
    const { statements } = await attached(store, artifact);
    const signed = statements.find(
      (s) => s.predicateType === 'https://airlock.dev/attestation/reproducibility/v1',
    ) as { predicate: { result: string } } | undefined;
    expect(signed?.predicate.result).toBe('REPRODUCIBLE');
    const policy = join(tmp.path, 'policy', 'repro.yaml');
    writeFileSync(
      policy,
      'version: 1\nkeys: [cosign.pub]\nrequire: [reproducibility]\nreproducible: true\n',
    );
    const v = await runCli([
      '--json',
      '--store',
      store,
      'verify',
      'demo/server',
      '--policy',
      policy,
    ]);
    expect(JSON.parse(v.stdout) as VerifyJson).toMatchObject({ pass: true });
  });

  it('build --sign signs what it built', async () => {
    const store3 = join(tmp.path, 'store3');
    const key = join(tmp.path, 'policy', 'cosign.key');
    const r = await runCli(
      ['--json', '--store', store3, 'build', '-C', project, 'lib', '--sign', '--key', key],
      { env },
    );
    expect(r.status, r.stderr).toBe(0);
    const lib = (JSON.parse(r.stdout) as { targets: { artifact: Digest }[] }).targets[0]!.artifact;
    expect((await attached(store3, lib)).listed).toBe(3);
    const v = await runCli([
      '--json',
      '--store',
      store3,
      'verify',
      'demo/lib',
      '--policy',
      policyFile,
    ]);
    expect(JSON.parse(v.stdout) as VerifyJson).toMatchObject({ pass: true, digest: lib });
    const noKey = await runCli(['--store', store3, 'build', '-C', project, 'lib', '--sign']);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain('--sign needs --key');
  });

  it('never shows the private key or its password: not in output, errors, bundles or statements', async () => {
    const keyFile = join(tmp.path, 'policy', 'cosign.key');
    const der = (await decodePrivateKey(readFileSync(keyFile, 'utf8'), PASSWORD)).privateKey
      .export({ type: 'pkcs8', format: 'der' })
      .toString('base64');
    const wrong = await runCli(
      ['--store', store, 'sign', '-C', project, 'server', '--key', keyFile],
      {
        env: { AIRLOCK_PASSWORD: 'a wrong guess 1234' },
      },
    );
    expect(wrong.stderr).toContain('error[KEY_PASSWORD]');
    expect(wrong.stdout + wrong.stderr).not.toContain('a wrong guess 1234');
    const ok = await runCli(
      ['--json', '--store', store, 'sign', '-C', project, 'server', '--key', keyFile],
      { env },
    );
    expect(ok.status, ok.stderr).toBe(0);
    for (const text of [
      ok.stdout,
      ok.stderr,
      ...(await attached(store, artifact)).bundles.map((b) => b.toString()),
    ]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(der.slice(0, 40));
      expect(text).not.toContain('PRIVATE KEY');
    }
  });

  it('names the verified digest, so a tag moved afterwards is not what was verified', async () => {
    const before = JSON.parse(
      (await runCli(['--json', '--store', store, 'verify', 'demo/server', '--policy', policyFile]))
        .stdout,
    ) as VerifyJson;
    expect(before).toMatchObject({ pass: true, digest: artifact });
    // Move the tag to lib's (unsigned) artifact.
    expect((await runCli(['--store', store, 'build', '-C', project, 'lib'])).status).toBe(0);
    const s = await Store.open(store);
    try {
      await s.setTag('demo/server', (await s.resolveTag('demo/lib'))!);
    } finally {
      s.close();
    }
    const moved = await runCli([
      '--json',
      '--store',
      store,
      'verify',
      'demo/server',
      '--policy',
      policyFile,
    ]);
    expect(moved.status).toBe(1);
    expect((JSON.parse(moved.stdout) as VerifyJson).digest).not.toBe(artifact);
    const pinned = await runCli([
      '--json',
      '--store',
      store,
      'verify',
      artifact,
      '--policy',
      policyFile,
    ]);
    expect(JSON.parse(pinned.stdout) as VerifyJson).toMatchObject({ pass: true, digest: artifact });
  });
});

describe('airlock check reads the evidence for level 5', () => {
  const tmp = tempDir('evidence-check');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'p');
  const key = join(tmp.path, 'cosign.key');
  afterAll(() => tmp.cleanup());

  const check = async (): Promise<{
    level: number;
    gaps: { level: number; blockers: string[] }[];
  }> =>
    JSON.parse((await runCli(['--json', '--store', store, 'check', project])).stdout) as {
      level: number;
      gaps: { level: number; blockers: string[] }[];
    };

  it('names what is missing, then awards level 5 once repro, signature, SBOM and provenance are there', async () => {
    mkdirSync(project);
    writeFileSync(
      join(project, 'airlock.yaml'),
      "version: 1\nname: l5\ntargets:\n  hello:\n    sources: ['a.txt']\n    steps:\n      - mkdir -p out && cat a.txt > out/a.txt\n    outputs: ['out/**']\n",
    );
    writeFileSync(join(project, 'a.txt'), 'hi\n');
    expect((await runCli(['keygen', '--dir', tmp.path], { env })).status).toBe(0);
    expect((await runCli(['--store', store, 'build', '-C', project])).status).toBe(0);
    const built = await check();
    expect(built.level).toBe(4);
    expect(built.gaps.find((g) => g.level === 5)?.blockers.join('\n')).toMatch(
      /hello .*needs a signature .*signed SLSA provenance, a signed SBOM, a signed reproducibility attestation/,
    );
    expect(
      (await runCli(['--store', store, 'sign', '-C', project, '--key', key], { env })).status,
    ).toBe(0);
    const signed = await check();
    expect(signed.level).toBe(4);
    expect(signed.gaps.find((g) => g.level === 5)?.blockers.join('\n')).toMatch(
      /^hello .*needs a signed reproducibility attestation \(`airlock repro hello`, then sign\)$/,
    );
    expect((await runCli(['--store', store, 'repro', 'hello', '-C', project])).status).toBe(0);
    expect(
      (await runCli(['--store', store, 'sign', '-C', project, '--key', key], { env })).status,
    ).toBe(0);
    const full = await check();
    expect(full.level).toBe(5);
    expect(full.gaps).toEqual([]);
  });
});

describe('store gc and signed attachments', () => {
  const tmp = tempDir('evidence-gc');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'demo');
  const key = join(tmp.path, 'cosign.key');
  const policyFile = join(tmp.path, 'policy.yaml');
  afterAll(() => tmp.cleanup());

  const gc = async (): Promise<{ referrersDropped: number; freed: string[] }> =>
    JSON.parse(
      (await runCli(['--json', '--store', store, 'store', 'gc', '--retention-days', '0'])).stdout,
    ) as { referrersDropped: number; freed: string[] };
  const blobs = async (digest: Digest): Promise<string[]> =>
    (await attached(store, digest)).bundles.map((b) => b.toString());

  it('keeps a live artifact’s current bundles, frees superseded ones, and drops the list of a deleted artifact', async () => {
    copyDemo(project);
    expect((await runCli(['keygen', '--dir', tmp.path], { env })).status).toBe(0);
    writeFileSync(policyFile, 'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance]\n');
    const b = await runCli(
      ['--json', '--store', store, 'build', '-C', project, 'lib', '--sign', '--key', key],
      { env },
    );
    expect(b.status, b.stderr).toBe(0);
    const lib = (JSON.parse(b.stdout) as { targets: { artifact: Digest }[] }).targets[0]!.artifact;
    expect(
      (await runCli(['--store', store, 'sign', '-C', project, 'lib', '--key', key], { env }))
        .status,
    ).toBe(0);
    const current = await blobs(lib);
    const freed = await gc();
    expect(freed.referrersDropped).toBe(0);
    // The three superseded bundles and their three manifests go; the current ones stay.
    expect(freed.freed.length).toBeGreaterThanOrEqual(6);
    expect(await blobs(lib)).toEqual(current);
    expect(
      (await runCli(['--json', '--store', store, 'verify', 'demo/lib', '--policy', policyFile]))
        .status,
    ).toBe(0);
    // The build record went with the expired action entry: signing again says to build.
    const again = await runCli(['--store', store, 'sign', '-C', project, 'lib', '--key', key], {
      env,
    });
    expect(again.stderr).toContain('error[NOT_BUILT]');

    const s = await Store.open(store);
    try {
      await s.deleteTag('demo/lib');
    } finally {
      s.close();
    }
    expect((await gc()).referrersDropped).toBe(1);
    const after = await Store.open(store);
    try {
      expect(await after.resolveTag(referrersTag(lib))).toBeUndefined();
    } finally {
      after.close();
    }
    const fsck = await runCli(['--json', '--store', store, 'store', 'fsck']);
    expect((JSON.parse(fsck.stdout) as { problems: unknown[] }).problems).toEqual([]);
  });
});

describe('airlock sign-blob / verify-blob', () => {
  const tmp = tempDir('evidence-blob');
  afterAll(() => tmp.cleanup());

  it('writes a v0.3 bundle beside the file that verifies, and rejects another file or key', async () => {
    const file = join(tmp.path, 'release.tar');
    writeFileSync(file, 'release bytes\n');
    expect((await runCli(['keygen', '--dir', tmp.path], { env })).status).toBe(0);
    expect((await runCli(['keygen', '--dir', tmp.path, '--prefix', 'other'], { env })).status).toBe(
      0,
    );
    const s = await runCli(['sign-blob', file, '--key', join(tmp.path, 'cosign.key')], { env });
    expect(s.status, s.stderr).toBe(0);
    const bundle = `${file}.sigstore.json`;
    expect((JSON.parse(readFileSync(bundle, 'utf8')) as { mediaType: string }).mediaType).toBe(
      BUNDLE_MEDIA_TYPE,
    );
    const ok = await runCli([
      'verify-blob',
      file,
      '--bundle',
      bundle,
      '--key',
      join(tmp.path, 'cosign.pub'),
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Verified OK');
    writeFileSync(file, 'release bytes!\n');
    const changed = await runCli([
      'verify-blob',
      file,
      '--bundle',
      bundle,
      '--key',
      join(tmp.path, 'cosign.pub'),
    ]);
    expect(changed.status).toBe(1);
    expect(changed.stderr).toContain('error[SIGNATURE_INVALID]');
    writeFileSync(file, 'release bytes\n');
    const wrongKey = await runCli([
      'verify-blob',
      file,
      '--bundle',
      bundle,
      '--key',
      join(tmp.path, 'other.pub'),
    ]);
    expect(wrongKey.stderr).toContain('error[BUNDLE_UNTRUSTED]');
    const again = await runCli(['sign-blob', file, '--key', join(tmp.path, 'cosign.key')], { env });
    expect(again.stderr).toContain('error[BUNDLE_EXISTS]');
  });
});
