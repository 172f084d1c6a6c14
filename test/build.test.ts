import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDemo, snapshotTree, tempDir, runCli } from './helpers/cli.js';

interface BuildJson {
  ok: boolean;
  targets: { name: string; cached: boolean; artifact: string; outputTree: string; tag: string }[];
}

const parse = (stdout: string): BuildJson => JSON.parse(stdout) as BuildJson;
const byName = (r: BuildJson): Record<string, BuildJson['targets'][number]> =>
  Object.fromEntries(r.targets.map((t) => [t.name, t]));

describe('airlock build on the demo example', () => {
  const tmp = tempDir('build');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'first', 'demo');
  let first: BuildJson;

  beforeAll(async () => {
    mkdirSync(join(tmp.path, 'first'));
    copyDemo(project);
    const r = await runCli(['--json', '--store', store, 'build', '-C', project]);
    expect(r.stderr).toContain('SOURCE_DATE_EPOCH defaults to 315532800');
    expect(r.status, r.stderr).toBe(0);
    first = parse(r.stdout);
  });
  afterAll(() => tmp.cleanup());

  it('builds every target and writes the outputs into the project', () => {
    expect(first.targets.map((t) => [t.name, t.cached])).toEqual([
      ['lib', false],
      ['server', false],
      ['hello-c', false],
      ['clock', false],
    ]);
    expect(readFileSync(join(project, 'dist/lib/greeting.js'), 'utf8')).toContain(
      'Hello from a hermetic build',
    );
    const hello = spawnSync(join(project, 'dist/hello-c/hello'), { encoding: 'utf8' });
    // __DATE__ comes from SOURCE_DATE_EPOCH (1980-01-01), not from today.
    expect(hello.stdout).toBe('hello from C, compiled Jan  1 1980 00:00:00\n');
  });

  it('tags OCI images that skopeo inspects and umoci unpacks', () => {
    const server = byName(first).server!;
    const inspect = spawnSync('skopeo', ['inspect', `oci:${store}:${server.tag}`], {
      encoding: 'utf8',
    });
    expect(inspect.status, inspect.stderr).toBe(0);
    const info = JSON.parse(inspect.stdout) as { Digest: string; Created: string; Env: string[] };
    expect(info.Digest).toBe(server.artifact);
    expect(info.Created).toBe('1980-01-01T00:00:00Z');
    expect(info.Env).toEqual(['PORT=8080']);
    const bundle = join(tmp.path, 'umoci-bundle');
    const unpack = spawnSync(
      'umoci',
      ['unpack', '--rootless', '--image', `${store}:${server.tag}`, bundle],
      { encoding: 'utf8' },
    );
    expect(unpack.status, unpack.stderr).toBe(0);
    expect(readFileSync(join(bundle, 'rootfs/dist/server/build-info.js'), 'utf8')).toContain(
      '"builtAt": "1980-01-01T00:00:00.000Z"',
    );
  });

  it('is a verified cache hit the second time, restoring nothing', async () => {
    const before = snapshotTree(join(project, 'dist'));
    const r = await runCli(['--json', '--store', store, 'build', '-C', project]);
    expect(r.status, r.stderr).toBe(0);
    const again = parse(r.stdout);
    expect(again.targets.every((t) => t.cached)).toBe(true);
    expect(again.targets.map((t) => t.artifact)).toEqual(first.targets.map((t) => t.artifact));
    expect(r.stderr).not.toContain('step');
    expect(snapshotTree(join(project, 'dist'))).toEqual(before);
  });

  it('restores deleted outputs bit-identically from the cache without running a step', async () => {
    const before = snapshotTree(join(project, 'dist'));
    spawnSync('rm', ['-rf', join(project, 'dist')]);
    const r = await runCli(['--store', store, 'build', '-C', project]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/step \d/);
    expect(snapshotTree(join(project, 'dist'))).toEqual(before);
  });

  it('produces bit-identical outputs with and without the cache', async () => {
    const cached = snapshotTree(join(project, 'dist'));
    const r = await runCli([
      '--json',
      '--store',
      store,
      'build',
      '--no-cache',
      '-C',
      project,
      'lib',
      'server',
      'hello-c',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const fresh = parse(r.stdout);
    expect(fresh.targets.every((t) => !t.cached)).toBe(true);
    const firstByName = byName(first);
    for (const t of fresh.targets) expect(t.artifact).toBe(firstByName[t.name]!.artifact);
    const now = snapshotTree(join(project, 'dist'));
    for (const p of Object.keys(now).filter((p) => !p.startsWith('clock/')))
      expect(now[p]).toBe(cached[p]);
  });

  it('gives the same artifact digests for a copy at another path with another store', async () => {
    const elsewhere = join(tmp.path, 'a-different-parent', 'renamed-project');
    mkdirSync(join(tmp.path, 'a-different-parent'));
    copyDemo(elsewhere);
    const r = await runCli([
      '--json',
      '--store',
      join(tmp.path, 'other-store'),
      'build',
      '-C',
      elsewhere,
      'lib',
      'server',
      'hello-c',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const firstByName = byName(first);
    for (const t of parse(r.stdout).targets)
      expect(t.artifact, t.name).toBe(firstByName[t.name]!.artifact);
    const digest = (s: string, tag: string): string =>
      (
        JSON.parse(
          spawnSync('skopeo', ['inspect', `oci:${s}:${tag}`], { encoding: 'utf8' }).stdout,
        ) as { Digest: string }
      ).Digest;
    expect(digest(join(tmp.path, 'other-store'), 'demo/server')).toBe(digest(store, 'demo/server'));
  });

  describe('when a cached blob is corrupted', () => {
    it('detects it, quarantines it and rebuilds the target', async () => {
      const layer = readFileSync(join(store, 'index.json'), 'utf8');
      expect(layer).toContain('demo/lib');
      const lib = byName(first).lib!;
      const manifest = JSON.parse(
        readFileSync(join(store, 'blobs/sha256', lib.artifact.slice(7)), 'utf8'),
      ) as {
        layers: { digest: string }[];
      };
      const blob = join(store, 'blobs/sha256', manifest.layers[0]!.digest.slice(7));
      chmodSync(blob, 0o644);
      const bytes = readFileSync(blob);
      bytes[bytes.length - 5]! ^= 0xff;
      writeFileSync(blob, bytes);
      const r = await runCli(['--json', '--store', store, 'build', '-C', project, 'lib']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/unusable|corrupt/i);
      expect(parse(r.stdout).targets[0]).toMatchObject({
        name: 'lib',
        cached: false,
        artifact: lib.artifact,
      });
      expect(readdirSync(join(store, 'quarantine')).length).toBeGreaterThan(0);
      const fsck = await runCli(['--json', '--store', store, 'store', 'fsck']);
      expect(fsck.status, fsck.stdout).toBe(0);
      expect(existsSync(blob)).toBe(true);
    });
  });

  describe('airlock why', () => {
    it('names the changed input file with its old and new digests', async () => {
      writeFileSync(join(project, 'lib/greeting.txt'), 'Hello again\n');
      const r = await runCli(['--json', '--store', store, 'why', '-C', project, 'lib']);
      expect(r.status, r.stderr).toBe(0);
      const why = JSON.parse(r.stdout) as {
        verdict: string;
        changes: { component: string; path?: string; old?: string; new?: string }[];
      };
      expect(why.verdict).toBe('changed');
      expect(why.changes).toEqual([
        expect.objectContaining({
          component: 'inputs',
          path: 'lib/greeting.txt',
          old: expect.stringMatching(/^sha256:/),
          new: expect.stringMatching(/^sha256:/),
        }),
      ]);
      const text = await runCli(['--store', store, 'why', '-C', project, 'lib']);
      expect(text.stdout).toContain('lib/greeting.txt');
    });
  });
});
