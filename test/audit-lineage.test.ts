// The audit log and lineage over a real build: two projects built in the sandbox from locked npm
// packages (a real verdaccio), one signed, both deployed (deploy events as the deploy stage
// records them), then lineage of a region, of an artifact, and `--uses` of a package.
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineageDot, lineageText, type LineageGraph } from '../src/audit/index.js';
import { loadConfig } from '../src/config/load.js';
import { fixedClock } from '../src/core/clock.js';
import { noEvents } from '../src/core/events.js';
import {
  openAuditLog,
  recordAudit,
  runAuditCheckpoint,
  runAuditLog,
  runAuditVerify,
} from '../src/pipeline/audit.js';
import { runAttachments } from '../src/pipeline/registry-attachments.js';
import { runPush } from '../src/pipeline/registry-push.js';
import { startRegistry } from './helpers/registry.js';
import { runBuild } from '../src/pipeline/build.js';
import { runFetch } from '../src/pipeline/fetch.js';
import { runLineage } from '../src/pipeline/lineage.js';
import { runLock } from '../src/pipeline/lock.js';
import { runSign } from '../src/pipeline/sign.js';
import { encodeKeyPair, generateSigningKey } from '../src/sign/index.js';
import { Store } from '../src/store/index.js';
import { runCli } from './helpers/cli.js';
import { npmLock, sharedVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';
import { git as gitIn } from './helpers/git.js';

const PASSWORD = 'lineage test password';
const AUDIT = { user: 'ana', host: 'ci-7' };

const SHOP = `version: 1
name: shop
sourceDateEpoch: 1700000000
targets:
  lib:
    sources: ["package.json", "package-lock.json", "lib.js"]
    npm: { lockfile: package-lock.json }
    toolchain: { host: [node] }
    steps: ["mkdir -p out/lib && node lib.js > out/lib/lib.txt"]
    outputs: ["out/lib/**"]
  app:
    sources: ["app.js"]
    deps: [lib]
    toolchain: { host: [node] }
    steps: ["mkdir -p out/app && node app.js > out/app/app.txt"]
    outputs: ["out/app/**"]
`;

const OTHER = `version: 1
name: other
sourceDateEpoch: 1700000000
targets:
  svc:
    sources: ["package.json", "package-lock.json", "svc.js"]
    npm: { lockfile: package-lock.json }
    toolchain: { host: [node] }
    steps: ["mkdir -p out && node svc.js > out/svc.txt"]
    outputs: ["out/**"]
`;

let work: string;
let reg: TestNpmRegistry;
let store: string;
const shop = (): string => join(work, 'shop');
let commit: string;
let keyId: string;
const artifacts: Record<string, string> = {};
let lockIntegrity: Record<string, string>;

async function git(dir: string, ...args: string[]): Promise<string> {
  return Promise.resolve(gitIn(dir, ...args));
}

async function project(
  dir: string,
  yaml: string,
  deps: Record<string, string>,
  files: Record<string, string>,
) {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'airlock.yaml'), yaml);
  await writeFile(join(dir, '.npmrc'), `registry=${reg.url}\n`);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await npmLock(dir, reg, deps);
  await rm(join(dir, 'node_modules'), { recursive: true, force: true });
  await runLock({ project: await loadConfig(dir) });
  await runFetch({ project: await loadConfig(dir), store });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-lineage-'));
  store = join(work, 'store');
  reg = await sharedVerdaccio();
  await reg.publish('tiny-a', '1.0.0', {});
  await reg.publish('tiny-b', '2.0.0', {}, { dependencies: { 'tiny-a': '1.0.0' } });
  await reg.publish('tiny-c', '3.0.0', {});

  await project(
    shop(),
    SHOP,
    { 'tiny-b': '2.0.0' },
    {
      'lib.js': 'console.log(require("tiny-b"));\n',
      'app.js': 'console.log("app");\n',
    },
  );
  await writeFile(join(shop(), '.gitignore'), 'out/\n');
  await git(shop(), 'init', '-q');
  await git(shop(), 'remote', 'add', 'origin', 'https://git.example/shop.git');
  await git(shop(), 'add', '-A');
  await git(shop(), 'commit', '-qm', 'shop');
  commit = await git(shop(), 'rev-parse', 'HEAD');
  const lock = JSON.parse(await readFile(join(shop(), 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { integrity?: string }>;
  };
  lockIntegrity = {
    'tiny-a': lock.packages['node_modules/tiny-a']!.integrity!,
    'tiny-b': lock.packages['node_modules/tiny-b']!.integrity!,
  };

  const clock = fixedClock(1_800_000_000_000);
  const built = await runBuild({
    project: shop(),
    store,
    targets: [],
    events: noEvents,
    audit: { ...AUDIT, clock },
  });
  for (const t of built.targets) artifacts[t.name] = t.artifact;

  await project(
    join(work, 'other'),
    OTHER,
    { 'tiny-c': '3.0.0' },
    { 'svc.js': 'console.log(require("tiny-c"));\n' },
  );
  const other = await runBuild({
    project: join(work, 'other'),
    store,
    targets: [],
    events: noEvents,
    audit: AUDIT,
  });
  artifacts['svc'] = other.targets[0]!.artifact;

  const key = generateSigningKey();
  keyId = key.keyId;
  const pair = await encodeKeyPair(key, PASSWORD);
  await writeFile(join(work, 'cosign.key'), pair.privatePem);
  await writeFile(join(work, 'cosign.pub'), pair.publicPem);
  await runSign({
    project: shop(),
    store,
    targets: [],
    key: join(work, 'cosign.key'),
    password: PASSWORD,
    events: noEvents,
    audit: AUDIT,
  });

  // What the deploy stage records: shop's app runs in prod/eu, other's svc in prod/us.
  const s = await Store.open(store);
  try {
    recordAudit(
      s,
      {
        type: 'deploy.promotion',
        data: { environment: 'prod', region: 'eu', artifact: artifacts['app']! },
      },
      AUDIT,
    );
    recordAudit(
      s,
      {
        type: 'deploy.promotion',
        data: { environment: 'prod', region: 'us', artifact: artifacts['svc'] },
      },
      AUDIT,
    );
  } finally {
    s.close();
  }
}, 240_000);

afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const ids = (g: LineageGraph, kind: string): string[] =>
  g.nodes.filter((n) => n.kind === kind).map((n) => n.id);

describe('the audit log of a build, sign and deploy', () => {
  it('records each build with commit, clean state, cache miss, toolchain, SOURCE_DATE_EPOCH, artifact, user and host', async () => {
    const r = await runAuditLog({ store, events: noEvents, filter: { types: ['build'] } });
    const lib = r.entries.find(
      (e) => e.entry.type === 'build' && e.entry.data.target === 'lib',
    )!.entry;
    expect(lib).toMatchObject({
      actor: AUDIT,
      time: 1_800_000_000_000,
      data: {
        project: 'shop',
        sourceCommit: commit,
        dirty: false,
        repository: 'https://git.example/shop.git',
        cache: 'miss',
        sourceDateEpoch: 1700000000,
        artifact: artifacts['lib'],
        toolchain: [{ name: 'node' }],
      },
    });
  });

  it('records each signature by key id and never the key material; the chain verifies', async () => {
    const r = await runAuditLog({ store, events: noEvents, filter: { types: ['signature'] } });
    expect(r.entries.length).toBe(6); // provenance, CycloneDX, SPDX for lib and app
    expect(new Set(r.entries.map((e) => (e.entry.data as { keyId: string }).keyId))).toEqual(
      new Set([keyId]),
    );
    const everything = (await runAuditLog({ store, events: noEvents })).entries
      .map((e) => JSON.stringify(e.entry))
      .join('\n');
    expect(everything).not.toContain('PRIVATE KEY');
    expect(everything).not.toContain(PASSWORD);
    const v = await runAuditVerify({ store, events: noEvents, keys: [join(work, 'cosign.pub')] });
    expect(v.ok).toBe(true);
    // `sign` signed a checkpoint of the head it reached, kept in the store.
    expect(v.checkpoints).toHaveLength(1);
    expect(v.checkpoints[0]).toMatchObject({ signature: 'verified', keyId, consistent: true });
  });
});

describe('airlock lineage', () => {
  it('of a region names the exact commit, the lock entries with their hashes, the keys and the dependency target', async () => {
    const g = await runLineage({ store, events: noEvents, subject: 'prod/eu' });
    expect(g.roots).toEqual(['region:prod/eu']);
    expect(ids(g, 'artifact').sort()).toEqual(
      [`artifact:${artifacts['app']}`, `artifact:${artifacts['lib']}`].sort(),
    );
    expect(ids(g, 'commit')).toEqual([`commit:${commit}`]);
    expect(ids(g, 'source')).toEqual(['source:https://git.example/shop.git']);
    expect(ids(g, 'key')).toEqual([`key:${keyId}`]);
    const pkgs = g.nodes.filter((n) => n.kind === 'package');
    expect(pkgs.map((n) => [n.id, n.data?.['integrity']])).toEqual([
      ['pkg:npm/tiny-a@1.0.0', lockIntegrity['tiny-a']],
      ['pkg:npm/tiny-b@2.0.0', lockIntegrity['tiny-b']],
    ]);
    expect(g.edges).toContainEqual({
      from: `build:${g.nodes.find((n) => n.kind === 'build' && n.label === 'shop/app')!.data!['actionKey'] as string}`,
      to: `artifact:${artifacts['lib']}`,
      label: 'depends on lib',
    });
    // The provenance bundle states the same commit.
    expect(g.edges.filter((e) => e.label === 'states commit').map((e) => e.to)).toContain(
      `commit:${commit}`,
    );
    const text = lineageText(g);
    expect(text).toContain(commit);
    expect(text).toContain('tiny-a@1.0.0');
    expect(lineageDot(g)).toMatch(/^digraph lineage \{/);
  });

  it('--uses finds the package in the artifacts containing it and the regions running them, and nothing else', async () => {
    const a = await runLineage({ store, events: noEvents, uses: 'tiny-a@1.0.0' });
    expect(ids(a, 'artifact').sort()).toEqual(
      [`artifact:${artifacts['app']}`, `artifact:${artifacts['lib']}`].sort(),
    );
    expect(ids(a, 'region')).toEqual(['region:prod/eu']);
    const c = await runLineage({ store, events: noEvents, uses: 'pkg:npm/tiny-c@3.0.0' });
    expect(ids(c, 'artifact')).toEqual([`artifact:${artifacts['svc']}`]);
    expect(ids(c, 'region')).toEqual(['region:prod/us']);
    const none = await runLineage({ store, events: noEvents, uses: 'tiny-a@9.9.9' });
    expect(none.nodes).toEqual([]);
    const anyVersion = await runLineage({ store, events: noEvents, uses: 'tiny-c' });
    expect(ids(anyVersion, 'artifact')).toEqual([`artifact:${artifacts['svc']}`]);
  });

  it('--uses finds the artifacts built with a host tool of a Debian package, by package and version', async () => {
    // Every target here runs the host's node: whichever Debian package dpkg says installed it.
    const node = realpathSync(execFileSync('sh', ['-c', 'command -v node']).toString().trim());
    const owner = execFileSync('dpkg-query', ['-S', node]).toString().split(':')[0]!.trim();
    const version = execFileSync('dpkg-query', ['-W', '-f', '${Version}', owner]).toString().trim();
    const all = [artifacts['app'], artifacts['lib'], artifacts['svc']].map((a) => `artifact:${a}`);
    const exact = await runLineage({
      store,
      events: noEvents,
      uses: `pkg:deb/debian/${owner}@${encodeURIComponent(version)}?arch=amd64`,
    });
    expect(ids(exact, 'artifact').sort()).toEqual(all.sort());
    expect(ids(exact, 'region').sort()).toEqual(['region:prod/eu', 'region:prod/us']);
    const anyVersion = await runLineage({
      store,
      events: noEvents,
      uses: `pkg:deb/debian/${owner}`,
    });
    expect(ids(anyVersion, 'artifact').sort()).toEqual(all.sort());
    // Another version of that package, or a package no target uses as a tool: nothing.
    for (const uses of [`pkg:deb/debian/${owner}@0.0.1`, 'pkg:deb/debian/gcc-12'])
      expect((await runLineage({ store, events: noEvents, uses })).nodes).toEqual([]);
    // Asked of dpkg once per binary: noted by the binary's digest.
    const s = await Store.open(store);
    const log = openAuditLog(s);
    try {
      expect(log.database.prepare("SELECT purl FROM host_packages WHERE purl != ''").all()).toEqual(
        [{ purl: `pkg:deb/debian/${owner}@${encodeURIComponent(version)}` }],
      );
    } finally {
      log.close();
      s.close();
    }
  });

  it('through the CLI: lineage --json of an artifact and audit verify --json', async () => {
    const l = await runCli(['--json', '--store', store, 'lineage', artifacts['lib']!]);
    expect(l.status, l.stderr).toBe(0);
    const g = JSON.parse(l.stdout) as LineageGraph;
    expect(g.nodes.map((n) => n.id)).toContain(`commit:${commit}`);
    const v = await runCli(['--json', '--store', store, 'audit', 'verify']);
    expect(v.status, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({
      ok: true,
      checkpoints: [{ signature: 'unchecked', consistent: true }],
    });
  });

  it('push records the push and carries the signed checkpoints as tag airlock-audit', async () => {
    const registry = await startRegistry();
    try {
      const r = await runPush({
        store,
        source: 'shop/app',
        target: `${registry.host}/shop/app:1`,
        insecure: [registry.host],
        audit: AUDIT,
      });
      expect(r.auditCheckpoints).toMatchObject({ tag: 'airlock-audit', checkpoints: 1 });
      const remote = await runAttachments({
        ref: `${registry.host}/shop/app:airlock-audit`,
        insecure: [registry.host],
      });
      expect(
        remote.attachments.map((d) => d.annotations?.['dev.sigstore.bundle.predicateType']),
      ).toEqual(['https://airlock.dev/audit-checkpoint/v1']);
      const pushes = await runAuditLog({ store, events: noEvents, filter: { types: ['push'] } });
      expect(pushes.entries.map((e) => e.entry.data)).toEqual([
        {
          registry: registry.host,
          repository: 'shop/app',
          tag: '1',
          digest: artifacts['app'],
          reference: `${registry.host}/shop/app@${artifacts['app']}`,
          attachments: 3,
        },
      ]);
    } finally {
      await registry.stop();
    }
  });

  it('a checkpoint kept outside the store finds the tail cut off after it', async () => {
    const kept = join(work, 'kept.sigstore.json');
    const cp = await runAuditCheckpoint({
      store,
      events: noEvents,
      key: join(work, 'cosign.key'),
      password: PASSWORD,
      output: kept,
    });
    const s = await Store.open(store);
    const log = openAuditLog(s);
    try {
      log.database.prepare('DELETE FROM events WHERE seq > ?').run(cp.seq - 2);
    } finally {
      log.close();
      s.close();
    }
    const v = await runAuditVerify({
      store,
      events: noEvents,
      checkpoints: [kept],
      keys: [join(work, 'cosign.pub')],
    });
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.kind)).toContain('checkpoint-missing');
    expect(v.checkpoints.at(-1)).toMatchObject({
      source: kept,
      signature: 'verified',
      consistent: false,
    });
  });

  it('audit verify fails once an entry is edited in place', async () => {
    const s = await Store.open(store);
    const log = openAuditLog(s);
    try {
      const row = log.database.prepare('SELECT json FROM events WHERE seq = 2').get() as {
        json: string;
      };
      log.database
        .prepare('UPDATE events SET json = ? WHERE seq = 2')
        .run(row.json.replace('"ana"', '"eve"'));
    } finally {
      log.close();
      s.close();
    }
    const v = await runAuditVerify({ store, events: noEvents });
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatchObject({ seq: 2, kind: 'hash-mismatch' });
    const cli = await runCli(['--store', store, 'audit', 'verify']);
    expect(cli.status).toBe(1);
    expect(cli.stdout).toContain('TAMPERED');
  });
});
