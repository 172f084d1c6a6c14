// Cache poisoning through a shared remote action cache: a real docker-registry,
// a trusted CI builder, an attacker who can push to the cache repository, and
// victims (each with its own store and project copy) who must never get the
// attacker's bytes.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packTarGz } from '../src/archive/pack.js';
import { RESULT_FORMAT, type ActionResult } from '../src/builder/action.js';
import { treeDigest } from '../src/core/tree.js';
import { isAirlockError, type AirlockEvent, type Digest } from '../src/core/index.js';
import { runBuild, type BuildReport } from '../src/pipeline/build.js';
import { runKeygen } from '../src/pipeline/keygen.js';
import type { ReproReport } from '../src/pipeline/repro.js';
import { runFsck } from '../src/pipeline/store.js';
import { runWhy } from '../src/pipeline/why.js';
import { cacheTag } from '../src/builder/remote-cache.js';
import { RegistryClient } from '../src/registry/index.js';
import { decodePrivateKey, generateSigningKey, type SigningKey } from '../src/sign/index.js';
import { Store } from '../src/store/index.js';
import { runCli } from './helpers/cli.js';
import { pushCraftedEntry, startCountingProxy } from './helpers/remote-cache.js';
import { startRegistry, tempDir, type TestRegistry } from './helpers/registry.js';

const PASSWORD = 'builder password';
const STEP = 'mkdir -p out && cat src/a.txt > out/a.txt && echo built >> out/a.txt';

describe('a remote cache shared with an attacker who can push to it', () => {
  let registry: TestRegistry;
  let dir: string;
  let remote: string;
  let builder: SigningKey;
  const attacker = generateSigningKey();
  let n = 0;

  /** A fresh machine: a git project (own sources, so its own action key) and its own store. */
  const machine = async (
    cache: string,
    source = `source ${++n}\n`,
    step = STEP,
  ): Promise<{ project: string; store: string; source: string }> => {
    const root = join(dir, `m${++n}`);
    const project = join(root, 'project');
    await mkdir(join(project, 'src'), { recursive: true });
    execFileSync('git', ['init', '-q', project]);
    writeFileSync(join(project, 'src', 'a.txt'), source);
    writeFileSync(
      join(project, 'airlock.yaml'),
      [
        'version: 1',
        'name: victim',
        'sourceDateEpoch: 1700000000',
        cache,
        'targets:',
        '  app:',
        '    sources: ["src/**"]',
        '    outputs: ["out/**"]',
        `    steps: [${JSON.stringify(step)}]`,
        '  lib:',
        '    sources: ["src/**"]',
        '    outputs: ["lib-out/**"]',
        '    steps: ["mkdir -p lib-out && cp src/a.txt lib-out/a.txt"]',
        '',
      ].join('\n'),
    );
    return { project, store: join(root, 'store'), source };
  };

  const reader = (trust = `["${join(dir, 'keys', 'cosign.pub')}"]`): string =>
    `cache: { remote: { repository: "${remote}", trust: ${trust} } }`;
  const writer = (): string =>
    `cache: { remote: { repository: "${remote}", mode: readwrite, signingKey: "${join(dir, 'keys', 'cosign.key')}", trust: ["${join(dir, 'keys', 'cosign.pub')}"] } }`;

  const build = async (
    m: { project: string; store: string },
    opts: { targets?: string[]; host?: string } = {},
  ): Promise<{
    report: BuildReport;
    steps: number;
    warnings: string[];
    events: AirlockEvent[];
  }> => {
    const events: AirlockEvent[] = [];
    const report = await runBuild({
      project: m.project,
      store: m.store,
      targets: opts.targets ?? ['app'],
      ...(opts.host ? { remoteCache: `${opts.host}/team/cache` } : {}),
      insecure: [registry.host, ...(opts.host ? [opts.host] : [])],
      registry: { retries: 0, env: { AIRLOCK_PASSWORD: PASSWORD } },
      events: (e) => void events.push(e),
    });
    return {
      report,
      events,
      steps: events.filter((e) => e.type === 'step').length,
      warnings: events.flatMap((e) =>
        e.type === 'log' && e.level === 'warn' && !e.message.includes('marked insecure')
          ? [e.message]
          : [],
      ),
    };
  };

  /** The victim's next action key for `target`, computed without building. */
  const nextKey = async (m: { project: string; store: string }, target = 'app'): Promise<Digest> =>
    (await runWhy({ project: m.project, store: m.store, target, events: () => undefined })).key;

  const localResult = async (store: string, key: Digest): Promise<Digest | undefined> => {
    const s = await Store.open(store);
    try {
      return (await s.getAction(key))?.result;
    } finally {
      s.close();
    }
  };

  const out = (m: { project: string }): string =>
    readFileSync(join(m.project, 'out', 'a.txt'), 'utf8');

  beforeAll(async () => {
    registry = await startRegistry();
    dir = await tempDir('remote-trust');
    remote = `${registry.host}/team/cache`;
    await mkdir(join(dir, 'keys'));
    await runKeygen({ dir: join(dir, 'keys'), password: PASSWORD });
    builder = await decodePrivateKey(
      await readFile(join(dir, 'keys', 'cosign.key'), 'utf8'),
      PASSWORD,
    );
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("an attacker-crafted entry under the victim's next key, with consistent digests", () => {
    it('is never restored when unsigned', async () => {
      const v = await machine(reader());
      const key = await nextKey(v);
      const planted = await pushCraftedEntry({
        registry: registry.host,
        repository: 'team/cache',
        key,
        files: { 'out/a.txt': 'attacker bytes\n' },
      });
      const r = await build(v);
      expect(r.report.targets[0]).toMatchObject({ cached: false, actionKey: key });
      expect(r.steps).toBe(1);
      expect(out(v)).toBe(`${v.source}built\n`);
      expect(r.warnings.join('\n')).toContain('it is not signed');
      expect(await localResult(v.store, key)).not.toBe(planted);
    });

    it('is never restored when signed by a key the project does not trust, and the warning names that key', async () => {
      const v = await machine(reader());
      const key = await nextKey(v);
      await pushCraftedEntry({
        registry: registry.host,
        repository: 'team/cache',
        key,
        files: { 'out/a.txt': 'attacker bytes\n' },
        signWith: attacker,
      });
      const r = await build(v);
      expect(r.report.targets[0]!.cached).toBe(false);
      expect(out(v)).toBe(`${v.source}built\n`);
      expect(r.warnings.join('\n')).toContain(`signed by key ${attacker.keyId}`);
      expect(r.warnings.join('\n')).toContain('not a trusted builder');
    });

    it('is never restored when the trusted signature is for another action key or another result', async () => {
      const v = await machine(reader());
      const key = await nextKey(v);
      const other: Digest = `sha256:${'e'.repeat(64)}`;
      await pushCraftedEntry({
        registry: registry.host,
        repository: 'team/cache',
        key,
        files: { 'out/a.txt': 'attacker bytes\n' },
        signWith: builder,
        signFor: { actionKey: other },
      });
      const r1 = await build(v);
      expect(r1.report.targets[0]!.cached).toBe(false);
      expect(r1.warnings.join('\n')).toContain(`its signature is for action key ${other}`);

      const w = await machine(reader());
      const key2 = await nextKey(w);
      await pushCraftedEntry({
        registry: registry.host,
        repository: 'team/cache',
        key: key2,
        files: { 'out/a.txt': 'attacker bytes\n' },
        signWith: builder,
        signFor: { result: other },
      });
      const r2 = await build(w);
      expect(r2.report.targets[0]!.cached).toBe(false);
      expect(r2.warnings.join('\n')).toContain(`its signature is for result ${other}`);
      expect(out(w)).toBe(`${w.source}built\n`);
    });
  });

  describe("an entry whose paths leave the target's declared outputs", () => {
    it('carrying a git hook and a source file is rejected whole: nothing is written, the target is built', async () => {
      const v = await machine(reader());
      const key = await nextKey(v);
      await pushCraftedEntry({
        registry: registry.host,
        repository: 'team/cache',
        key,
        files: {
          '.git/hooks/pre-commit': 'exec:#!/bin/sh\ntouch /tmp/pwned\n',
          'out/a.txt': 'attacker bytes\n',
          'src/a.txt': 'edited source\n',
        },
        // Even a trusted builder's signature does not let an entry write outside the outputs.
        signWith: builder,
      });
      const r = await build(v);
      expect(r.report.targets[0]!.cached).toBe(false);
      expect(r.steps).toBe(1);
      expect(existsSync(join(v.project, '.git', 'hooks', 'pre-commit'))).toBe(false);
      expect(readFileSync(join(v.project, 'src', 'a.txt'), 'utf8')).toBe(v.source);
      expect(out(v)).toBe(`${v.source}built\n`);
      const warning = r.warnings.join('\n');
      expect(warning).toContain("outside the target's declared outputs");
      expect(warning).toContain('.git/hooks/pre-commit is inside a version-control directory');
      expect(warning).toContain('src/a.txt is not a declared output');
    });

    it("holding another target's files under this target's key is rejected", async () => {
      const v = await machine(reader());
      const key = await nextKey(v, 'app');
      await pushCraftedEntry({
        registry: registry.host,
        repository: 'team/cache',
        key,
        files: { 'lib-out/a.txt': 'lib bytes\n' },
        signWith: builder,
      });
      const r = await build(v);
      expect(r.report.targets[0]!.cached).toBe(false);
      expect(r.warnings.join('\n')).toContain('lib-out/a.txt is not a declared output');
      expect(existsSync(join(v.project, 'lib-out'))).toBe(false);
      expect(out(v)).toBe(`${v.source}built\n`);
    });

    it('is refused from the local action cache too', async () => {
      const v = await machine(reader());
      const key = await nextKey(v);
      const s = await Store.open(v.store);
      try {
        const file = join(dir, 'hook');
        writeFileSync(file, '#!/bin/sh\n');
        const packed = packTarGz(
          [{ path: '.git/hooks/post-checkout', kind: 'file', absPath: file, executable: true }],
          { mtime: 1700000000 },
        );
        const layer = await s.putStream(packed.stream);
        const pack = await packed.result;
        const result: ActionResult = {
          format: RESULT_FORMAT,
          actionKey: key,
          exitCode: 0,
          outputs: {
            tree: treeDigest(pack.entries),
            entries: pack.entries,
            layer: { digest: layer.digest, size: layer.size, diffId: pack.diffId },
          },
          logs: [],
          timings: { durationMs: 1 },
          blobs: [layer.digest],
        };
        await s.putAction(key, (await s.putJson(result)).digest);
      } finally {
        s.close();
      }
      const r = await build(v);
      expect(r.report.targets[0]!.cached).toBe(false);
      expect(existsSync(join(v.project, '.git', 'hooks', 'post-checkout'))).toBe(false);
      expect(r.warnings.join('\n')).toContain('inside a version-control directory');
    });
  });

  it('a developer client in read mode never pushes, even after building locally', async () => {
    const proxy = await startCountingProxy(registry.port);
    try {
      const v = await machine(reader());
      const r = await build(v, { host: proxy.host });
      expect(r.report.targets[0]!.cached).toBe(false);
      expect(r.steps).toBe(1);
      // It did ask the cache (a miss), and sent nothing.
      expect(proxy.requests.some((q) => q.includes('/manifests/ac-'))).toBe(true);
      expect(proxy.requests.filter((q) => !/^(GET|HEAD) /.test(q))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('a readwrite client without the signing key password fails with a clear error', async () => {
    const v = await machine(writer());
    const err: unknown = await runBuild({
      project: v.project,
      store: v.store,
      targets: ['app'],
      insecure: [registry.host],
      registry: { retries: 0, env: {} },
      events: () => undefined,
    }).catch((e: unknown) => e);
    expect(isAirlockError(err, 'SIGNING_KEY_PASSWORD')).toBe(true);
    expect((err as Error & { hint: string }).hint).toContain('AIRLOCK_PASSWORD');
  });

  it("a trusted builder's entry is restored, and the build, its report and `why` say where from and who signed it", async () => {
    const ci = await machine(writer(), 'shared source\n');
    const built = await build(ci);
    expect(built.report.targets[0]!.cached).toBe(false);
    const key = built.report.targets[0]!.actionKey as Digest;
    const client = new RegistryClient(registry.host, { insecure: [registry.host] });
    await client.getManifest('team/cache', cacheTag(key)); // published

    const dev = await machine(reader(), 'shared source\n');
    const r = await build(dev);
    expect(r.steps).toBe(0);
    expect(r.warnings).toEqual([]);
    expect(r.report.targets[0]).toMatchObject({
      cached: true,
      actionKey: key,
      remote: { repository: remote, signedBy: builder.keyId },
    });
    const said = `restored from remote cache ${remote}, signed by ${builder.keyId}`;
    expect(r.report.targets[0]!.remote!.text).toBe(said);
    expect(r.events).toContainEqual(
      expect.objectContaining({ type: 'target', state: 'cached', detail: said }),
    );
    expect(out(dev)).toBe('shared source\nbuilt\n');
    const why = await runWhy({
      project: dev.project,
      store: dev.store,
      target: 'app',
      events: () => undefined,
    });
    expect(why).toMatchObject({ verdict: 'hit', origin: { signedBy: builder.keyId, text: said } });
    // The CLI says it too: in the build's progress lines and in `why`.
    const env = { AIRLOCK_INSECURE_REGISTRIES: registry.host };
    const cli = await machine(reader(), 'shared source\n');
    const b = await runCli(['--store', cli.store, 'build', '-C', cli.project], { env });
    expect(b.status).toBe(0);
    expect(b.stdout + b.stderr).toContain(`cached app (${said})`);
    const w = await runCli(['--store', cli.store, 'why', 'app', '-C', cli.project], { env });
    expect(w.stdout).toContain(said);

    // Once the builder's key leaves the trust list, its entries already in the
    // local action cache stop being used too.
    const other = join(dir, 'keys', 'other.pub');
    writeFileSync(other, attacker.publicKey.export({ type: 'spki', format: 'pem' }));
    const yaml = readFileSync(join(dev.project, 'airlock.yaml'), 'utf8');
    writeFileSync(
      join(dev.project, 'airlock.yaml'),
      yaml.replace(join(dir, 'keys', 'cosign.pub'), other),
    );
    const after = await build(dev);
    expect(after.report.targets[0]!.cached).toBe(false);
    expect(after.steps).toBe(1);
    expect(after.warnings.join('\n')).toContain(`${said}, is no longer trusted`);
  });

  it('publishes step logs only when asked, with the store and project paths scrubbed out', async () => {
    // The step prints the host paths the way a compiler error message would.
    const leak = (m: { project: string; store: string }): string =>
      `echo "error in ${m.project}/src/a.txt, cache ${m.store}/tmp" >&2; ${STEP}`;
    const plain = await machine(writer(), 'logs not published\n');
    writeFileSync(
      join(plain.project, 'airlock.yaml'),
      readFileSync(join(plain.project, 'airlock.yaml'), 'utf8').replace(
        JSON.stringify(STEP),
        JSON.stringify(leak(plain)),
      ),
    );
    const withLogs = await machine(
      writer().replace('mode: readwrite', 'mode: readwrite, publishLogs: true'),
      'logs published\n',
    );
    writeFileSync(
      join(withLogs.project, 'airlock.yaml'),
      readFileSync(join(withLogs.project, 'airlock.yaml'), 'utf8').replace(
        JSON.stringify(STEP),
        JSON.stringify(leak(withLogs)),
      ),
    );
    const client = new RegistryClient(registry.host, { insecure: [registry.host] });
    /** The published result and the text of every log it carries. */
    const published = async (m: {
      project: string;
      store: string;
    }): Promise<{ result: ActionResult; logs: string[] }> => {
      const r = await build(m);
      const key = r.report.targets[0]!.actionKey as Digest;
      const got = await client.getManifest('team/cache', cacheTag(key));
      if (got.manifest.kind !== 'manifest') throw new Error('not a manifest');
      const first = got.manifest.layers[0]!;
      const result = JSON.parse(
        Buffer.from(await client.fetchBlob('team/cache', first)).toString(),
      ) as ActionResult;
      const logs: string[] = [];
      for (const l of result.logs) {
        const desc = got.manifest.layers.find((d) => d.digest === l.stderr)!;
        logs.push(Buffer.from(await client.fetchBlob('team/cache', desc)).toString());
      }
      return { result, logs };
    };
    const a = await published(plain);
    expect(a.result.logs).toEqual([]);
    const b = await published(withLogs);
    expect(b.logs).toHaveLength(1);
    expect(b.logs[0]).toContain('error in <host-path>/src/a.txt, cache <host-path>/tmp');
    expect(b.logs[0]).not.toContain(withLogs.project);
    expect(b.logs[0]).not.toContain(withLogs.store);
  });

  describe('with `trust: any`, a poisoned entry that stays inside the outputs', () => {
    let v: { project: string; store: string; source: string };
    let key: Digest;

    beforeAll(async () => {
      v = await machine(reader('any'));
      key = await nextKey(v);
      await pushCraftedEntry({
        registry: registry.host,
        repository: 'team/cache',
        key,
        files: { 'out/a.txt': 'attacker bytes\n' },
      });
    });

    it('is used only with a warning at every use, and the build says so', async () => {
      const r = await build(v);
      expect(r.report.targets[0]).toMatchObject({ cached: true, remote: { signedBy: 'any' } });
      expect(r.warnings.join('\n')).toContain('trust: any');
      expect(out(v)).toBe('attacker bytes\n');
      // A later local hit on the same entry warns again.
      const again = await build(v);
      expect(again.report.targets[0]).toMatchObject({ cached: true, remote: { signedBy: 'any' } });
      expect(again.warnings.join('\n')).toContain(`using cache entry ${key}`);
    });

    it('is reported loudly by `airlock repro`, which fails and drops it from the local action cache', async () => {
      const text = await runCli(
        ['--store', v.store, 'repro', 'app', '-C', v.project, '--no-diffoscope'],
        {
          env: { AIRLOCK_INSECURE_REGISTRIES: registry.host },
        },
      );
      expect(text.status).toBe(1);
      expect(text.stdout).toContain('CACHE MISMATCH: the local action cache holds output tree');
      expect(text.stdout).toContain(`restored from remote cache ${remote}`);
      // Dropped, so a second repro sees only the remote entry, still wrong, still failing.
      const json = await runCli(
        ['--store', v.store, '--json', 'repro', 'app', '-C', v.project, '--no-diffoscope'],
        { env: { AIRLOCK_INSECURE_REGISTRIES: registry.host } },
      );
      expect(json.status).toBe(1);
      const report = JSON.parse(json.stdout) as ReproReport & { ok: boolean };
      expect(report.ok).toBe(false);
      expect(report.reproducible).toBe(true); // the build itself is fine …
      expect(report.cacheMatches).toBe(false); // … the cache entry is not
      expect(report.cache).toEqual([expect.objectContaining({ source: 'remote', matches: false })]);
      expect(await localResult(v.store, key)).toBeUndefined();
    });

    it('is dropped by `store fsck --trust-of` once the project trusts only its builder', async () => {
      // Restore it again under trust: any, then tighten the trust.
      await build(v);
      expect(await localResult(v.store, key)).toBeDefined();
      const yaml = readFileSync(join(v.project, 'airlock.yaml'), 'utf8');
      writeFileSync(
        join(v.project, 'airlock.yaml'),
        yaml.replace('trust: any', `trust: ["${join(dir, 'keys', 'cosign.pub')}"]`),
      );
      const report = await runFsck({ store: v.store, trustOf: v.project });
      expect(report.trust).toMatchObject({ checked: 1 });
      expect(report.trust!.failed).toEqual([
        expect.objectContaining({ key, signer: 'any', dropped: true, reason: 'it is not signed' }),
      ]);
      expect(report.ok).toBe(false);
      expect(await localResult(v.store, key)).toBeUndefined();
    });
  });
});
