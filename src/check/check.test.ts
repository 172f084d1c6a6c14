import { describe, expect, it } from 'vitest';
import { loadCase } from '../../test/helpers/check-corpus.js';
import { analyze } from './analyze.js';
import { unifiedDiff } from './diff.js';
import { imageCap, parseImageRef } from './image.js';
import { lockedVersions } from './npm.js';
import { pinImages, pinPackageJson } from './pin.js';
import { parseJsonTree } from './text.js';
import type { Finding } from './types.js';

const run = (name: string) => analyze(loadCase(name));
const ids = (fs: Finding[]): string[] => [...new Set(fs.map((f) => f.ruleId))].sort();
const at = (fs: Finding[], rule: string): string[] =>
  fs.filter((f) => f.ruleId === rule).map((f) => `${f.file}:${f.line}`);

describe('Dockerfile rules', () => {
  const r = run('docker-bad');
  it('flags FROM node:18 via ARG, python:latest and ubuntu:22.04 at their lines', () => {
    expect(at(r.findings, 'image-floating-tag')).toEqual(['Dockerfile:3', 'Dockerfile:12']);
    expect(at(r.findings, 'image-digest')).toEqual(['Dockerfile:1', 'Dockerfile:15']);
    expect(
      r.findings.find((f) => f.ruleId === 'image-floating-tag' && f.line === 3)?.message,
    ).toContain('node:18');
  });
  it('flags network RUNs across line continuations, apt without versions, ADD url, COPY . . before install, no SOURCE_DATE_EPOCH', () => {
    expect(at(r.findings, 'dockerfile/run-network')).toEqual([
      'Dockerfile:6',
      'Dockerfile:9',
      'Dockerfile:13',
    ]);
    const apt = r.findings.find((f) => f.ruleId === 'dockerfile/apt-unversioned');
    expect(apt?.message).toContain('python3, make, g++');
    expect(at(r.findings, 'dockerfile/add-url-checksum')).toEqual(['Dockerfile:16']);
    expect(at(r.findings, 'dockerfile/copy-all-before-manifests')).toEqual(['Dockerfile:5']);
    expect(
      r.findings.find((f) => f.ruleId === 'dockerfile/source-date-epoch')?.replacement?.text,
    ).toBe('ARG SOURCE_DATE_EPOCH\n');
    expect(r.level).toBe(1);
  });
  it('stays silent on the fixed form (digests, fetch stage, --network=none, --checksum, manifests first)', () => {
    const good = run('docker-good');
    expect(ids(good.findings)).toEqual(['airlock/no-config']);
  });
});

describe('package.json rules', () => {
  const r = run('npm-bad');
  it('flags every kind of range and tag', () => {
    const ranges = r.findings
      .filter((f) => f.ruleId === 'npm/version-range')
      .map((f) => f.message.split(' ')[0]);
    expect(ranges).toEqual([
      'dependencies.express',
      'dependencies.lodash',
      'dependencies.pg',
      'dependencies.left-pad',
      'dependencies.debug',
      'dependencies.zod',
      'dependencies.react',
      'devDependencies.typescript',
    ]);
  });
  it('flags git without a commit, URL without integrity, file: outside the repo, and the missing lockfile', () => {
    expect(at(r.findings, 'npm/unpinned-url')).toEqual(['package.json:13', 'package.json:14']);
    expect(at(r.findings, 'npm/file-outside-repo')).toEqual(['package.json:15']);
    expect(at(r.findings, 'npm/no-lockfile')).toEqual(['package.json:5']);
    expect(r.findings.find((f) => f.line === 6)?.column).toBe(16);
  });
  it('stays silent on exact versions, commit-pinned git, in-repo file:, workspace: and peer ranges', () => {
    expect(
      run('npm-good').findings.filter(
        (f) => f.ruleId.startsWith('npm/') || f.ruleId.startsWith('lock/'),
      ),
    ).toEqual([]);
  });
});

describe('lockfile rules', () => {
  const r = run('lock-bad');
  it('flags lockfileVersion 1, http resolved, entries without integrity in npm, yarn and pnpm locks', () => {
    expect(at(r.findings, 'lock/lockfile-v1')).toEqual(['package-lock.json:4']);
    expect(at(r.findings, 'lock/insecure-resolved')).toEqual(['package-lock.json:7']);
    expect(at(r.findings, 'lock/no-integrity')).toEqual([
      'package-lock.json:12',
      'pnpm-lock.yaml:13',
      'yarn.lock:10',
    ]);
  });
  it('stays silent on v3 locks with integrity, links, yarn berry checksums and workspaces', () => {
    expect(run('lock-good').findings.filter((f) => f.ruleId.startsWith('lock/'))).toEqual([]);
  });
});

describe('CI rules', () => {
  it('flags unpinned actions, npm install, container/service tags and a per-environment build matrix', () => {
    const r = run('gha-bad');
    expect(at(r.findings, 'ci/action-not-pinned')).toEqual([
      '.github/workflows/ci.yml:11',
      '.github/workflows/ci.yml:12',
    ]);
    expect(at(r.findings, 'ci/npm-install')).toEqual(['.github/workflows/ci.yml:13']);
    expect(r.findings.find((f) => f.ruleId === 'ci/npm-install')?.replacement).toMatchObject({
      line: 13,
      column: 14,
      text: 'npm ci',
    });
    expect(at(r.findings, 'image-floating-tag')).toEqual([
      '.github/workflows/ci.yml:6',
      '.github/workflows/ci.yml:9',
    ]);
    expect(at(r.findings, 'ci/per-environment-build')).toEqual(['.github/workflows/ci.yml:19']);
  });
  it('stays silent on SHA-pinned actions, local actions, npm ci, digests and a per-environment deploy', () => {
    expect(run('gha-good').findings.filter((f) => f.ruleId !== 'airlock/no-config')).toEqual([]);
  });
  it('flags GitLab images, npm install and build-per-environment jobs', () => {
    const r = run('gitlab-bad');
    expect(ids(r.findings)).toEqual([
      'airlock/no-config',
      'ci/npm-install',
      'ci/per-environment-build',
      'image-floating-tag',
    ]);
    expect(at(r.findings, 'ci/per-environment-build')).toEqual([
      '.gitlab-ci.yml:3',
      '.gitlab-ci.yml:7',
      '.gitlab-ci.yml:8',
      '.gitlab-ci.yml:14',
    ]);
  });
});

describe('Kubernetes and Compose rules', () => {
  it('flags every image without a digest across documents', () => {
    const r = run('k8s-bad');
    expect(
      r.findings
        .filter((f) => f.ruleId.startsWith('image'))
        .map((f) => `${f.file}:${f.line}:${f.ruleId}`),
    ).toEqual([
      'deploy.yaml:10:image-digest',
      'deploy.yaml:12:image-floating-tag',
      'deploy.yaml:23:image-floating-tag',
      'docker-compose.yml:3:image-digest',
      'docker-compose.yml:5:image-floating-tag',
    ]);
  });
  it('stays silent on digests and on YAML that is not a manifest', () => {
    expect(run('k8s-good').findings.filter((f) => f.ruleId !== 'airlock/no-config')).toEqual([]);
  });
});

describe('build script rules', () => {
  it('flags wall-clock time in referenced Node, shell and Python scripts, __DATE__, and an unverified cache', () => {
    const r = run('scripts-bad');
    expect(at(r.findings, 'script/wall-clock')).toEqual([
      'scripts/build.js:2',
      'scripts/pack.sh:6',
      'scripts/stamp.py:2',
      'version.c:2',
    ]);
    expect(at(r.findings, 'script/unverified-cache')).toEqual(['scripts/pack.sh:3']);
  });
  it('stays silent on SOURCE_DATE_EPOCH, hash-checked caches and scripts no build step runs', () => {
    expect(run('scripts-good').findings.filter((f) => f.ruleId.startsWith('script/'))).toEqual([]);
  });
});

describe('airlock.yaml rules', () => {
  it('flags host toolchain, network, host env, unpinned toolchain image and unlocked inputs', () => {
    const r = run('airlock-bad');
    expect(ids(r.findings)).toEqual([
      'airlock/host-env',
      'airlock/host-toolchain',
      'airlock/network',
      'airlock/unlocked-inputs',
      'image-floating-tag',
    ]);
    expect(at(r.findings, 'airlock/host-env')).toEqual(['airlock.yaml:10', 'airlock.yaml:11']);
    expect(r.level).toBe(1);
  });
  it('reaches level 4 from files alone on the fixed form, and names the level-5 evidence only a build gives', () => {
    const r = run('airlock-good');
    expect(r.findings).toEqual([]);
    expect(r.level).toBe(4);
    expect(r.gaps).toHaveLength(1);
    expect(r.gaps[0]!.blockers.join(' ')).toMatch(/repro.*sign.*SBOM/);
  });
});

describe('malformed files', () => {
  it('reports each parse error with its location instead of crashing', () => {
    const r = run('malformed');
    expect(
      r.findings
        .filter((f) => f.ruleId === 'parse-error')
        .map((f) => `${f.file}:${f.line}:${f.column}`),
    ).toEqual(['Dockerfile:3:1', 'package.json:5:3', 'pod.yaml:7:1']);
  });
});

describe('suppressions', () => {
  it('silences one finding with a reason, reports it as suppressed, and refuses a comment without a reason', () => {
    const r = run('suppressed');
    expect(r.suppressed.map((f) => `${f.ruleId}:${f.line}:${f.suppressed?.reason}`)).toEqual([
      'dockerfile/run-network:4:CA bundle fetched once per base bump, reviewed',
    ]);
    expect(at(r.findings, 'dockerfile/run-network')).toEqual(['Dockerfile:6']);
    expect(at(r.findings, 'ignore-without-reason')).toEqual(['Dockerfile:5']);
  });
});

describe('images', () => {
  it('parses registry ports, tags and digests', () => {
    expect(parseImageRef('localhost:5000/a/b:1.2@sha256:x')).toEqual({
      name: 'localhost:5000/a/b',
      tag: '1.2',
      digest: 'sha256:x',
    });
    expect(parseImageRef('localhost:5000/a')).toEqual({
      name: 'localhost:5000/a',
      tag: undefined,
      digest: undefined,
    });
    expect([imageCap('node:18'), imageCap('node:20.11.1-alpine'), imageCap('redis')]).toEqual([
      1, 2, 1,
    ]);
  });
});

describe('pin (pure)', () => {
  const digest = `sha256:${'a'.repeat(64)}` as const;
  it('rewrites only the image text, keeping comments and quoting', () => {
    const yaml = 'services:\n  web:\n    image: "nginx:1.25" # front\n';
    const out = pinImages('manifest', yaml, new Map([['nginx:1.25', digest]]));
    expect(out.text).toBe(`services:\n  web:\n    image: "nginx:1.25@${digest}" # front\n`);
    expect(out.changes).toEqual([{ line: 3, from: 'nginx:1.25', to: `nginx:1.25@${digest}` }]);
  });
  it('pins package.json ranges to the lockfile versions', () => {
    const pkg = '{\n  "dependencies": {\n    "ms": "^2.1.0",  \n    "x": "1.0.0"\n  }\n}\n';
    const lock = JSON.stringify({
      lockfileVersion: 3,
      packages: { 'node_modules/ms': { version: '2.1.2', integrity: 'sha512-x' } },
    });
    const out = pinPackageJson(pkg, lockedVersions('package-lock.json', lock));
    expect(out.text).toBe(pkg.replace('"^2.1.0"', '"2.1.2"'));
  });
  it('shows a unified diff', () => {
    expect(unifiedDiff('f', 'a\nb\nc\n', 'a\nB\nc\n')).toBe(
      '--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n \n',
    );
  });
});

describe('parseJsonTree', () => {
  it('keeps offsets and rejects trailing commas', () => {
    const t = parseJsonTree('{"a": [1, "x"]}');
    expect(t.kind === 'object' && t.members[0]!.value.start).toBe(6);
    expect(() => parseJsonTree('{"a": 1,}')).toThrow(/property name/);
  });
});
