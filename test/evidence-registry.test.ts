// Signed evidence travels with its artifact: push carries the bundles as referrers, a pull brings
// them back, and the pulled copy verifies offline.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../src/core/digest.js';
import { BUNDLE_MEDIA_TYPE } from '../src/sign/index.js';
import { CLI, copyDemo, tempDir, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';

const env = { AIRLOCK_PASSWORD: 'registry evidence' };

describe('push and pull carry signed attestations', () => {
  const tmp = tempDir('evidence-registry');
  let reg: TestRegistry;
  let lib: Digest;
  beforeAll(async () => {
    reg = await startRegistry();
    copyDemo(join(tmp.path, 'demo'));
    expect((await runCli(['keygen', '--dir', tmp.path], { env })).status).toBe(0);
    writeFileSync(
      join(tmp.path, 'policy.yaml'),
      'version: 1\nkeys: [cosign.pub]\nrequire: [slsa-provenance, cyclonedx, spdx]\n',
    );
    const b = await runCli(
      [
        '--json',
        '--store',
        join(tmp.path, 'a'),
        'build',
        '-C',
        join(tmp.path, 'demo'),
        'lib',
        '--sign',
        '--key',
        join(tmp.path, 'cosign.key'),
      ],
      { env },
    );
    expect(b.status, b.stderr).toBe(0);
    lib = (JSON.parse(b.stdout) as { targets: { artifact: Digest }[] }).targets[0]!.artifact;
  });
  afterAll(async () => {
    await reg.stop();
    tmp.cleanup();
  });

  it('pushes the bundles as referrers a user can filter by artifact type', async () => {
    const push = await runCli([
      '--json',
      '--store',
      join(tmp.path, 'a'),
      'push',
      '--insecure-registry',
      reg.host,
      'demo/lib',
      `${reg.host}/ev/lib:v1`,
    ]);
    expect(push.status, push.stderr).toBe(0);
    expect((JSON.parse(push.stdout) as { attachments: unknown[] }).attachments).toHaveLength(3);
    const att = await runCli([
      '--json',
      'attachments',
      '--insecure-registry',
      reg.host,
      '--artifact-type',
      BUNDLE_MEDIA_TYPE,
      `${reg.host}/ev/lib:v1`,
    ]);
    const listed = JSON.parse(att.stdout) as {
      digest: string;
      attachments: { artifactType: string; annotations?: Record<string, string> }[];
    };
    expect(listed.digest).toBe(lib);
    expect(
      listed.attachments.map((a) => a.annotations?.['dev.sigstore.bundle.predicateType']).sort(),
    ).toEqual([
      'https://cyclonedx.org/bom',
      'https://slsa.dev/provenance/v1',
      'https://spdx.dev/Document',
    ]);
  });

  it('pulls them into another store, where verify passes with the network off', async () => {
    const b = join(tmp.path, 'b');
    const pull = await runCli([
      '--json',
      '--store',
      b,
      'pull',
      '--insecure-registry',
      reg.host,
      `${reg.host}/ev/lib:v1`,
    ]);
    expect(pull.status, pull.stderr).toBe(0);
    const r = spawnSync(
      'unshare',
      [
        '-n',
        process.execPath,
        CLI,
        '--json',
        '--store',
        b,
        'verify',
        lib,
        '--policy',
        join(tmp.path, 'policy.yaml'),
      ],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pass: true, digest: lib });
  });

  it('verify --pull fetches the artifact with its bundles and verifies the digest it pulled', async () => {
    const r = await runCli([
      '--json',
      '--store',
      join(tmp.path, 'c'),
      'verify',
      '--pull',
      '--insecure-registry',
      reg.host,
      `${reg.host}/ev/lib:v1`,
      '--policy',
      join(tmp.path, 'policy.yaml'),
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pass: true, digest: lib });
  });
});
