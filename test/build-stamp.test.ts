// The build stamp's fast path (what bin/airlock.js runs before the CLI): taken when nothing
// that decided the last build changed, and not taken, with a correct build after, for each
// kind of change. Runs in-process: the fast path first, the CLI when it declines, as the
// binary does.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/index.js';
import { runStampedBuild } from '../src/cli/fast-build.js';
import {
  readStampEntries,
  stampKey,
  stampPath,
  stampRefusal,
} from '../src/pipeline/build-stamp.js';
import type { CliOutput } from '../src/cli/session.js';
import { Store } from '../src/store/index.js';
import { CLI, runCli, tempDir } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';
import { git as gitIn } from './helpers/git.js';
import { RECORD_IMPORTS } from './helpers/imports.js';

const YAML = `version: 1
name: shop
sourceDateEpoch: 1700000000
targets:
  lib:
    sources: ["src/**"]
    steps: ["mkdir -p out/lib && cp -r src/. out/lib/"]
    outputs: ["out/lib/**"]
  app:
    sources: ["app.txt"]
    deps: [lib]
    steps: ["mkdir -p out/app && cp app.txt out/app/"]
    outputs: ["out/app/**"]
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rewrites `file` with `text` and puts its atime and mtime back to the nanosecond (touch -r). */
function editKeepingTimes(file: string, text: string, ref: string): void {
  execFileSync('touch', ['-r', file, ref]);
  const before = statSync(file, { bigint: true });
  writeFileSync(file, text);
  execFileSync('touch', ['-r', ref, file]);
  const after = statSync(file, { bigint: true });
  // Only the ctime (and the bytes) tell the edit.
  expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
  expect(after.ctimeNs).not.toBe(before.ctimeNs);
}

interface Run {
  fast: boolean;
  status: number;
  stdout: string;
  stderr: string;
  /** "lib built", "app cached"… from the text report. */
  targets: string[];
}

describe('build stamp', () => {
  const tmp = tempDir('stamp');
  const project = join(tmp.path, 'shop');
  const store = join(tmp.path, 'store');
  const bin = join(tmp.path, 'bin');
  afterAll(() => tmp.cleanup());

  /** The stamp's fast path alone: its exit status, undefined when it declines. */
  async function fastOnly(
    args: string[],
    runEnv: Record<string, string> = {},
  ): Promise<{ fast: number | undefined; stdout: string; stderr: string }> {
    let out = '';
    let err = '';
    const capture = (add: (t: string) => void): CliOutput => ({
      write: (t: string) => {
        add(t);
        return true;
      },
    });
    const fast = await runStampedBuild(['node', CLI, ...args], {
      cwd: tmp.path,
      // What runCli gives main: the key must be the same.
      env: { ...process.env, NO_COLOR: '1', CI: '1', ...runEnv },
      stdout: capture((t) => (out += t)),
      stderr: capture((t) => (err += t)),
    });
    return { fast, stdout: out, stderr: err };
  }

  /** One run as bin/airlock.js does it: the stamp first, the CLI when it declines. */
  async function build(extra: string[] = [], runEnv: Record<string, string> = {}): Promise<Run> {
    const args = ['--store', store, 'build', '-C', project, ...extra];
    const { fast, stdout, stderr } = await fastOnly(args, runEnv);
    const r =
      fast === undefined
        ? await runCli(args, { cwd: tmp.path, env: runEnv })
        : { status: fast, stdout, stderr };
    return {
      fast: fast !== undefined,
      ...r,
      targets: r.stdout
        .split('\n')
        .filter((l) => l.includes('\t'))
        .map((l) => l.split('\t').slice(0, 2).join(' ')),
    };
  }

  /**
   * The next run, or the one after it, is answered by the stamp: a build stamps what it
   * saw, except what changed within the racy window before it began (then the next does).
   */
  async function expectFastAgain(): Promise<void> {
    let why = stampRefusal();
    let r = await build();
    if (!r.fast) {
      why = `${why} / ${stampRefusal()}`;
      // Past the racy window of whatever just changed, the build stamps it.
      await sleep(120);
      r = await build();
      if (!r.fast) why = `${why} / ${stampRefusal()}`;
      r = r.fast ? r : await build();
    }
    expect(r.fast, `the last build wrote no stamp: ${why}`).toBe(true);
    expect(r.targets).toEqual(['lib cached', 'app cached']);
  }

  const auditBuilds = (): { target: string; cache: string; actionKey: string }[] => {
    const log = AuditLog.open(join(store, 'airlock', 'v1', 'audit.sqlite'), { readonly: true });
    try {
      return log
        .list({ types: ['build'] })
        .map((r) => r.entry.data as { target: string; cache: string; actionKey: string });
    } finally {
      log.close();
    }
  };

  beforeAll(async () => {
    writeProject(project, YAML, {
      'src/a/x.txt': 'x1\n',
      'src/y.txt': 'y1\n',
      'app.txt': 'app\n',
    });
    mkdirSync(bin);
    // Older than any build's racy window, so the stamp trusts them by their stat alone.
    await sleep(250);
    const first = await build();
    expect(first.fast).toBe(false);
    expect(first.targets).toEqual(['lib built', 'app built']);
  }, 120_000);

  it('answers an unchanged build from the stamp, printing and recording what the build does', async () => {
    // The first stamp holds the outputs the build just wrote, vouched for by their content.
    const viaStamp = await build();
    expect(viaStamp.fast).toBe(true);
    // What the stamp checked by content (the outputs the build had just written) is,
    // once settled, checked by its stat alone: the stamp is rewritten so.
    const byContent = (): number =>
      readStampEntries(
        join(
          store,
          'airlock',
          'v1',
          'stamps',
          readdirSync(join(store, 'airlock', 'v1', 'stamps')).find((f) => f.endsWith('.stamp'))!,
        ),
      ).filter((e) => e.expect !== '-').length;
    await sleep(250);
    const again = await build();
    expect(again.fast).toBe(true);
    expect(byContent()).toBe(0);
    // The same run without a stamp: the same stdout, stderr and audit entries.
    rmSync(join(store, 'airlock', 'v1', 'stamps'), { recursive: true, force: true });
    const normal = await build();
    expect(normal.fast).toBe(false);
    expect(viaStamp.stdout).toBe(normal.stdout);
    expect(viaStamp.stderr).toBe(normal.stderr);
    expect(normal.targets).toEqual(['lib cached', 'app cached']);
    const log = AuditLog.open(join(store, 'airlock', 'v1', 'audit.sqlite'), { readonly: true });
    try {
      const strip = (d: unknown): unknown => {
        const rest = { ...(d as Record<string, unknown>) };
        delete rest['startedAt'];
        delete rest['finishedAt'];
        return rest;
      };
      // Three no-ops: two answered by the stamp, then the build itself.
      const last = log.list({ types: ['build'] }).slice(-6);
      expect(
        last
          .map((r) => r.entry.data as { target: string; cache: string })
          .map((d) => `${d.target} ${d.cache}`),
      ).toEqual(['lib hit', 'app hit', 'lib hit', 'app hit', 'lib hit', 'app hit']);
      for (const i of [0, 1, 2, 3])
        expect(strip(last[i]!.entry.data)).toEqual(strip(last[4 + (i % 2)]!.entry.data));
      expect(last[0]!.entry.actor).toEqual(last[4]!.entry.actor);
      // The chain stays intact.
      expect(log.verify().ok).toBe(true);
    } finally {
      log.close();
    }
    await expectFastAgain();
  }, 120_000);

  it('says what the build says when a checkpoint is due and no key is configured', async () => {
    writeFileSync(join(project, 'airlock.yaml'), `${YAML}audit:\n  checkpoint:\n    entries: 1\n`);
    try {
      await build();
      await expectFastAgain();
      const viaStamp = await build();
      expect(viaStamp.fast).toBe(true);
      rmSync(join(store, 'airlock', 'v1', 'stamps'), { recursive: true, force: true });
      const normal = await build();
      expect(normal.fast).toBe(false);
      expect(normal.stderr).toMatch(
        /audit: no checkpoint since entry 0: entries 1–\d+ are not protected/,
      );
      // The same line with the log's head two entries further on.
      const head = (text: string): number => Number(/entries 1–(\d+)/.exec(text)![1]);
      expect(head(normal.stderr)).toBe(head(viaStamp.stderr) + 2);
      expect(viaStamp.stderr.replace(/–\d+/, '–N')).toBe(normal.stderr.replace(/–\d+/, '–N'));
    } finally {
      writeFileSync(join(project, 'airlock.yaml'), YAML);
      await build();
    }
  }, 120_000);

  it('builds again after an edit that keeps the size and puts the mtime back', async () => {
    await expectFastAgain();
    editKeepingTimes(join(project, 'src', 'y.txt'), 'y2\n', join(tmp.path, 'times-ref'));
    const r = await build();
    expect(r.fast).toBe(false);
    expect(r.targets).toEqual(['lib built', 'app built']);
    expect(readFileSync(join(project, 'out', 'lib', 'y.txt'), 'utf8')).toBe('y2\n');
    await expectFastAgain();
  }, 120_000);

  it('builds again after a touch (the result stays cached)', async () => {
    await expectFastAgain();
    const now = new Date();
    utimesSync(join(project, 'app.txt'), now, now);
    const r = await build();
    expect(r.fast).toBe(false);
    expect(r.targets).toEqual(['lib cached', 'app cached']);
    await expectFastAgain();
  }, 120_000);

  it('builds again when a file is added to, removed from or renamed in an input directory', async () => {
    await expectFastAgain();
    writeFileSync(join(project, 'src', 'a', 'new.txt'), 'n\n');
    let r = await build();
    expect(r.fast).toBe(false);
    expect(r.targets[0]).toBe('lib built');
    expect(readFileSync(join(project, 'out', 'lib', 'a', 'new.txt'), 'utf8')).toBe('n\n');
    await expectFastAgain();

    renameSync(join(project, 'src', 'a', 'new.txt'), join(project, 'src', 'a', 'renamed.txt'));
    r = await build();
    expect(r.fast).toBe(false);
    expect(r.targets[0]).toBe('lib built');
    expect(readFileSync(join(project, 'out', 'lib', 'a', 'renamed.txt'), 'utf8')).toBe('n\n');
    await expectFastAgain();

    unlinkSync(join(project, 'src', 'a', 'renamed.txt'));
    r = await build();
    expect(r.fast).toBe(false);
    expect(r.targets[0]).toMatch(/^lib (built|cached)$/);
    expect(() => statSync(join(project, 'out', 'lib', 'a', 'renamed.txt'))).toThrow();
    await expectFastAgain();
  }, 120_000);

  it('builds again when a file matching a glob appears in a new directory', async () => {
    await expectFastAgain();
    mkdirSync(join(project, 'src', 'deep', 'er'), { recursive: true });
    writeFileSync(join(project, 'src', 'deep', 'er', 'z.txt'), 'z\n');
    const r = await build();
    expect(r.fast).toBe(false);
    expect(r.targets[0]).toBe('lib built');
    expect(readFileSync(join(project, 'out', 'lib', 'deep', 'er', 'z.txt'), 'utf8')).toBe('z\n');
    rmSync(join(project, 'src', 'deep'), { recursive: true });
    await build();
    await expectFastAgain();
  }, 120_000);

  it('builds again when the config or airlock.lock changes', async () => {
    await expectFastAgain();
    writeFileSync(join(project, 'airlock.yaml'), `${YAML}# a comment\n`);
    let r = await build();
    expect(r.fast).toBe(false);
    await expectFastAgain();
    writeFileSync(join(project, 'airlock.lock'), '');
    r = await build();
    expect(r.fast).toBe(false);
    rmSync(join(project, 'airlock.lock'), { force: true });
    await build();
    await expectFastAgain();
  }, 120_000);

  it('builds again under another environment or other flags', async () => {
    await expectFastAgain();
    let r = await build([], { AIRLOCK_PASSWORD: 'other' });
    expect(r.fast).toBe(false);
    r = await build(['app']);
    expect(r.fast).toBe(false);
    r = await build(['app']);
    expect(r.fast).toBe(true);
    expect(r.targets).toEqual(['lib cached', 'app cached']);
    r = await build(['--no-cache']);
    expect(r.fast).toBe(false);
    r = await build(['--no-cache']);
    expect(r.fast).toBe(false); // never stamped: the cache decides nothing
    await expectFastAgain();
  }, 120_000);

  it('restores an output that was deleted or edited in place', async () => {
    await expectFastAgain();
    const out = join(project, 'out', 'app', 'app.txt');
    rmSync(out);
    let r = await build();
    expect(r.fast).toBe(false);
    expect(readFileSync(out, 'utf8')).toBe('app\n');
    await expectFastAgain();
    editKeepingTimes(out, 'APP\n', join(tmp.path, 'times-ref'));
    r = await build();
    expect(r.fast).toBe(false);
    expect(readFileSync(out, 'utf8')).toBe('app\n');
    await expectFastAgain();
    // A stale file under an output glob is removed by the build.
    writeFileSync(join(project, 'out', 'app', 'stale.txt'), 's\n');
    r = await build();
    expect(r.fast).toBe(false);
    expect(() => statSync(join(project, 'out', 'app', 'stale.txt'))).toThrow();
    await expectFastAgain();
  }, 120_000);

  it('builds again when a store entry it relies on is gone', async () => {
    await expectFastAgain();
    const s = await Store.open(store);
    try {
      await s.deleteTag('shop/app');
    } finally {
      s.close();
    }
    let r = await build();
    expect(r.fast).toBe(false);
    expect(r.status).toBe(0);
    await expectFastAgain();
    const artifact = /app\tcached\t(sha256:[0-9a-f]{64})/.exec(r.stdout)![1]!;
    rmSync(join(store, 'blobs', 'sha256', artifact.slice(7)), { force: true });
    r = await build();
    expect(r.fast).toBe(false);
    expect(r.status).toBe(0);
    expect(statSync(join(store, 'blobs', 'sha256', artifact.slice(7))).isFile()).toBe(true);
    await expectFastAgain();
  }, 120_000);

  it('builds again when the host tool PATH finds changes', async () => {
    const yaml = YAML.replace(
      '    steps: ["mkdir -p out/app && cp app.txt out/app/"]',
      '    toolchain: { host: [sh, tool] }\n    steps: ["mkdir -p out/app && cp app.txt out/app/"]',
    );
    writeFileSync(join(project, 'airlock.yaml'), yaml);
    symlinkSync('/usr/bin/cat', join(bin, 'tool'));
    const path = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;
    const saved = process.env.PATH;
    process.env.PATH = path;
    try {
      let r = await build();
      expect(r.status).toBe(0);
      await expectFastAgain();
      // The same name now resolves to another binary.
      unlinkSync(join(bin, 'tool'));
      symlinkSync('/usr/bin/tac', join(bin, 'tool'));
      r = await build();
      expect(r.fast).toBe(false);
      expect(r.targets).toEqual(['lib cached', 'app built']);
      await expectFastAgain();
    } finally {
      process.env.PATH = saved;
      writeFileSync(join(project, 'airlock.yaml'), YAML);
    }
  }, 120_000);

  it('compares every number of an entry exactly: one step off in any of them is a change', async () => {
    await expectFastAgain();
    const args = ['--store', store, 'build', '-C', project];
    // This run's stamp (the store holds others, of other flags and environments).
    const env = { ...process.env, NO_COLOR: '1', CI: '1' };
    const file = stampPath(store, stampKey(['node', CLI, ...args], tmp.path, env));
    const source = join(project, 'src', 'y.txt');
    const original = readFileSync(file);
    const entries = readStampEntries(file);
    const i = entries.findIndex((e) => e.path === source);
    expect(entries[i]).toMatchObject({ kind: 'f', expect: '-' });
    // The numbers follow the entry lines: six float64s an entry.
    const at = original.length - entries.length * 48 + i * 48;
    const fields = ['size', 'mtimeMs', 'ctimeMs', 'ino', 'dev', 'mode'];
    const st = statSync(source);
    expect(fields.map((_f, n) => original.readDoubleLE(at + n * 8))).toEqual([
      st.size,
      st.mtimeMs,
      st.ctimeMs,
      st.ino,
      st.dev,
      st.mode,
    ]);
    try {
      for (let n = 0; n < fields.length; n++) {
        // The next double up: the smallest change a number can show.
        const nudged = Buffer.from(original);
        nudged.writeBigUInt64LE(nudged.readBigUInt64LE(at + n * 8) + 1n, at + n * 8);
        writeFileSync(file, nudged);
        expect((await fastOnly(args)).fast, fields[n]).toBeUndefined();
        expect(stampRefusal(), fields[n]).toBe(`${source} changed`);
      }
    } finally {
      writeFileSync(file, original);
    }
    expect((await fastOnly(args)).fast).toBe(0);
  }, 120_000);

  it('answers from the stamp in a process that loads no CLI, store, hashing or daemon client code', async () => {
    const imports = join(tmp.path, 'imports');
    // The same environment every run: it is part of the stamp's key.
    const env = { ...process.env, NO_COLOR: '1', AIRLOCK_DAEMON: '0', IMPORTS_OUT: imports };
    const spawnBuild = (): string[] => {
      rmSync(imports, { force: true });
      const r = spawnSync(
        process.execPath,
        ['--import', RECORD_IMPORTS, CLI, '--store', store, 'build', '-C', project],
        { cwd: tmp.path, env, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(imports, 'utf8')
        .split('\n')
        .filter((u) => u !== '');
    };
    const viaCli = (loaded: string[]): boolean =>
      loaded.some((u) => u.endsWith('/dist/cli/main.js'));
    // The first run (a new key) builds and stamps; one of the next two is answered by it.
    let loaded = spawnBuild();
    expect(viaCli(loaded)).toBe(true);
    loaded = spawnBuild();
    if (viaCli(loaded)) {
      await sleep(120);
      loaded = spawnBuild();
    }
    expect(viaCli(loaded), stampRefusal()).toBe(false);
    expect(loaded).toContainEqual(expect.stringMatching(/\/dist\/cli\/fast-build\.js$/));
    const dist = loaded
      .filter((u) => u.includes('/dist/'))
      .map((u) => u.slice(u.lastIndexOf('/dist/') + '/dist/'.length));
    expect(
      dist.filter((m) =>
        /^(daemon\/client|store\/(index|store)|hash\/|oci\/|builder\/(toolchain|executor)|config\/index)/.test(
          m,
        ),
      ),
    ).toEqual([]);
    expect(loaded.filter((u) => /node_modules\/(picomatch|zod|yaml)\//.test(u))).toEqual([]);
  }, 120_000);

  it('builds again when HEAD moves', async () => {
    const git = (...args: string[]): string => gitIn(project, ...args);
    git('init', '-q', '-b', 'main');
    writeFileSync(join(project, '.gitignore'), 'out/\n');
    git('add', '.');
    git('commit', '-q', '-m', 'one');
    await build();
    await expectFastAgain();
    git('commit', '-q', '--allow-empty', '-m', 'two');
    const r = await build();
    expect(r.fast).toBe(false);
    const head = git('rev-parse', 'HEAD').trim();
    const last = auditBuilds().at(-1) as { sourceCommit?: string };
    expect(last.sourceCommit).toBe(head);
    await expectFastAgain();
  }, 120_000);
});
