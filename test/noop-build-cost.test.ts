// What a build costs besides its steps, counted (never timed): the audit log's transactions,
// the git processes and the modules a no-op build (everything cached, outputs present) loads.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PREDICATE } from '../src/attest/index.js';
import { AuditLog } from '../src/audit/index.js';
import type { Digest } from '../src/core/digest.js';
import { referrersTag } from '../src/oci/index.js';
import { PREDICATE_TYPE_ANNOTATION } from '../src/pipeline/attestations.js';
import { localReferrers } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { noEvents } from '../src/core/events.js';
import { runBuild } from '../src/pipeline/build.js';
import { CLI, tempDir } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';
import { git as gitIn } from './helpers/git.js';
import { RECORD_IMPORTS } from './helpers/imports.js';

const YAML = `version: 1
name: shop
sourceDateEpoch: 1700000000
targets:
  lib:
    sources: ["lib.txt"]
    steps: ["mkdir -p out/lib && cp lib.txt out/lib/"]
    outputs: ["out/lib/**"]
  app:
    sources: ["app.txt"]
    deps: [lib]
    steps: ["mkdir -p out/app && cp app.txt out/app/"]
    outputs: ["out/app/**"]
  docs:
    sources: ["docs.txt"]
    steps: ["mkdir -p out/docs && cp docs.txt out/docs/"]
    outputs: ["out/docs/**"]
`;

describe('what a build costs besides its steps', () => {
  const tmp = tempDir('noop-cost');
  const project = join(tmp.path, 'shop');
  const store = join(tmp.path, 'store');
  let head: string;
  afterAll(() => {
    vi.restoreAllMocks();
    tmp.cleanup();
  });

  const git = (...args: string[]): string => gitIn(project, ...args);

  beforeAll(() => {
    writeProject(project, YAML, {
      'lib.txt': 'lib\n',
      'app.txt': 'app\n',
      'docs.txt': 'docs\n',
      '.gitignore': 'out/\n',
    });
    git('init', '-q', '-b', 'main');
    git('remote', 'add', 'origin', 'https://example.com/shop.git');
    git('add', '.');
    git('commit', '-q', '-m', 'shop');
    head = git('rev-parse', 'HEAD');
  });

  /** Audit-log transactions begun during `fn` (better-sqlite3's transaction() on audit.sqlite). */
  async function auditTransactions(fn: () => Promise<unknown>): Promise<number> {
    let n = 0;
    const proto = Database.prototype as unknown as {
      transaction: (this: Database.Database, fn: (...a: unknown[]) => unknown) => unknown;
    };
    const real = proto.transaction;
    const spy = vi.spyOn(proto, 'transaction').mockImplementation(function (
      this: Database.Database,
      f: (...a: unknown[]) => unknown,
    ) {
      if (this.name.endsWith('audit.sqlite')) n++;
      return real.call(this, f);
    });
    try {
      await fn();
    } finally {
      spy.mockRestore();
    }
    return n;
  }

  const buildEvents = (): { target: string; cache: string; sourceCommit?: string }[] =>
    buildEventsOf(join(store, 'airlock', 'v1', 'audit.sqlite'));
  const buildEventsOf = (
    db: string,
  ): { target: string; cache: string; sourceCommit?: string }[] => {
    const log = AuditLog.open(db, { readonly: true });
    try {
      return log
        .list({ types: ['build'] })
        .map((r) => r.entry.data as { target: string; cache: string; sourceCommit?: string });
    } finally {
      log.close();
    }
  };

  it('records a no-op build in one audit transaction, and each built target as soon as it is built', async () => {
    const build = () => runBuild({ project, store, targets: [], events: noEvents });
    // The log's schema is made once, in a transaction of its own, before the first build.
    AuditLog.open(join(store, 'airlock', 'v1', 'audit.sqlite')).close();
    // Three targets built: each is appended as soon as it is built, one append at a
    // time, so targets finishing while an append runs go in the next one together. `app`
    // needs `lib`, so it always finishes after `lib`'s append began: 2 or 3, never 1.
    const built = await auditTransactions(build);
    expect(built).toBeGreaterThanOrEqual(2);
    expect(built).toBeLessThanOrEqual(3);
    expect(await auditTransactions(build)).toBe(1);
    const events = buildEvents();
    const names = events.map((e) => `${e.target} ${e.cache}`);
    // In the order the targets finished: a dependency before its dependents.
    expect(names.slice(0, 3).sort()).toEqual(['app miss', 'docs miss', 'lib miss']);
    expect(names.indexOf('lib miss')).toBeLessThan(names.indexOf('app miss'));
    expect(names.slice(3).sort()).toEqual(['app hit', 'docs hit', 'lib hit']);
    expect(new Set(events.map((e) => e.sourceCommit))).toEqual(new Set([head]));
  }, 120_000);

  it('opens the audit log once for a build of several targets, and has closed it when the build ends', async () => {
    const fresh = join(tmp.path, 'store-open-once');
    let opened = 0;
    const real = AuditLog.open.bind(AuditLog);
    const spy = vi.spyOn(AuditLog, 'open').mockImplementation((file, opts) => {
      if (opts?.readonly !== true) opened++;
      return real(file, opts);
    });
    try {
      await runBuild({ project, store: fresh, targets: [], events: noEvents });
    } finally {
      spy.mockRestore();
    }
    const db = join(fresh, 'airlock', 'v1', 'audit.sqlite');
    // SQLite removes the write-ahead log when the last connection to it closes.
    expect(existsSync(`${db}-wal`)).toBe(false);
    expect(buildEventsOf(db).map((e) => e.cache)).toEqual(['miss', 'miss', 'miss']);
    expect(opened).toBe(1);
  }, 120_000);

  it('has recorded a built target before the build ends, so a build killed later loses no record of it', async () => {
    const slow = join(tmp.path, 'slow');
    writeProject(
      slow,
      `version: 1
name: slow
sourceDateEpoch: 1700000000
targets:
  quick:
    sources: ["a.txt"]
    steps: ["mkdir -p out/q && cp a.txt out/q/"]
    outputs: ["out/q/**"]
  late:
    sources: ["a.txt"]
    deps: [quick]
    steps: ["sleep 60"]
    outputs: ["out/l/**"]
`,
      { 'a.txt': 'a\n' },
    );
    const before = buildEvents().length;
    const child = spawn(process.execPath, [CLI, '--store', store, 'build', '-C', slow], {
      stdio: 'ignore',
      env: { ...process.env, CI: '1', NO_COLOR: '1' },
    });
    try {
      let seen: string[] = [];
      for (let i = 0; i < 300 && seen.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        seen = buildEvents()
          .slice(before)
          .map((e) => `${e.target} ${e.cache}`);
      }
      // `late` is still sleeping: the build has not ended, and `quick` is already in the log.
      expect(child.exitCode).toBe(null);
      expect(seen).toEqual(['quick miss']);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
    }
    expect(
      buildEvents()
        .slice(before)
        .map((e) => `${e.target} ${e.cache}`),
    ).toEqual(['quick miss']);
  }, 120_000);

  it('still records the targets that were built when another one fails', async () => {
    const failing = join(tmp.path, 'failing');
    writeProject(
      failing,
      `version: 1
name: failing
sourceDateEpoch: 1700000000
targets:
  good:
    sources: ["a.txt"]
    steps: ["mkdir -p out && cp a.txt out/"]
    outputs: ["out/**"]
  bad:
    sources: ["a.txt"]
    deps: [good]
    steps: ["exit 3"]
    outputs: ["bad/**"]
`,
    );
    const before = buildEvents().length;
    await expect(
      runBuild({ project: failing, store, targets: [], events: noEvents }),
    ).rejects.toThrow();
    expect(
      buildEvents()
        .slice(before)
        .map((e) => `${e.target} ${e.cache}`),
    ).toEqual(['good miss']);
  }, 120_000);

  it("reads no artifact's referrers index again once it was seen to list provenance, and re-attaches evidence that went away", async () => {
    const build = () => runBuild({ project, store, targets: [], events: noEvents });
    const artifacts = (await build()).targets.map((t) => t.artifact as Digest);
    const s = await Store.open(store);
    const indexes = new Set<string>();
    try {
      for (const a of artifacts) indexes.add((await s.requireTag(referrersTag(a))).digest);
    } finally {
      s.close();
    }
    const reads: string[] = [];
    const proto = Store.prototype as unknown as {
      getBytes: (this: Store, digest: Digest) => Promise<Buffer>;
    };
    const real = proto.getBytes;
    const spy = vi.spyOn(proto, 'getBytes').mockImplementation(function (
      this: Store,
      digest: Digest,
    ) {
      reads.push(digest);
      return real.call(this, digest);
    });
    try {
      await build();
      expect(reads.filter((d) => indexes.has(d))).toEqual([]);

      // Evidence removed behind the build's back (its referrers tag gone) is attached again.
      const s2 = await Store.open(store);
      try {
        await s2.deleteTag(referrersTag(artifacts[0]!));
      } finally {
        s2.close();
      }
      await build();
    } finally {
      spy.mockRestore();
    }
    const s3 = await Store.open(store);
    try {
      const attached = await localReferrers(s3, artifacts[0]!);
      expect(attached.map((d) => d.annotations?.[PREDICATE_TYPE_ANNOTATION])).toContain(
        PREDICATE.slsaProvenance,
      );
    } finally {
      s3.close();
    }
  }, 120_000);

  it('a no-op build runs git once and loads no schema library, signing, SBOM or registry code', () => {
    try {
      execFileSync('strace', ['-V'], { stdio: 'ignore' });
    } catch {
      throw new Error('strace is not installed: run scripts/setup.sh (Debian package strace)');
    }
    const trace = join(tmp.path, 'trace');
    const imports = join(tmp.path, 'imports');
    const run = spawnSync(
      'strace',
      [
        '-f',
        '-s',
        '4096',
        '-e',
        'trace=execve',
        '-o',
        trace,
        process.execPath,
        '--import',
        RECORD_IMPORTS,
        CLI,
        '--store',
        store,
        '--json',
        'build',
        '-C',
        project,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', IMPORTS_OUT: imports },
      },
    );
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { targets: { cached: boolean }[] };
    expect(report.targets.map((t) => t.cached)).toEqual([true, true, true]);

    // Only successful execs count: PATH lookups try several directories first.
    const gits = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((l) => /execve\("[^"]*\/git", /.test(l) && / = 0$/.test(l));
    expect(gits.map((l) => /\["git", (.*)\]/.exec(l)?.[1])).toEqual([
      `"-C", "${project}", "status", "--porcelain", "--untracked-files=normal"`,
    ]);

    const loaded = readFileSync(imports, 'utf8').split('\n');
    const heavy = loaded.filter((u) =>
      /node_modules\/(zod|yaml|@sigstore|@cyclonedx|tweetnacl|tar-stream)\/|\/dist\/(pipeline\/(audit|evidence|sign)|registry\/client|sign\/|attest\/(cyclonedx|spdx))\.js$/.test(
        u,
      ),
    );
    expect(heavy).toEqual([]);
    expect(loaded).toContainEqual(expect.stringMatching(/\/dist\/pipeline\/build\.js$/));
  }, 120_000);
});
