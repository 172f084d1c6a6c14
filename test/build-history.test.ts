import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, buildsOf, isAirlockError, sha256, storeGc, why } from '../src/index.js';
import { tempDir, runCli } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';
import { git } from './helpers/git.js';

const YAML = `version: 1
name: hist
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
    steps: ["mkdir -p out && cp a.txt out/"]
    outputs: ["out/**"]
`;

// Three builds of one target, each from its own commit, in one store.
describe('the build history', () => {
  const tmp = tempDir('history');
  const store = join(tmp.path, 'store');
  const project = join(tmp.path, 'p');
  const builds: { artifact: string; commit: string; key: string }[] = [];

  beforeAll(async () => {
    writeProject(project, YAML, { 'a.txt': 'one\n', '.gitignore': 'out/\n' });
    git(project, 'init', '-q');
    for (const content of ['one\n', 'two\n', 'three\n']) {
      writeFileSync(join(project, 'a.txt'), content);
      git(project, 'add', '-A');
      git(project, 'commit', '-qm', content.trim());
      const report = await build({ project, store, targets: [] });
      builds.push({
        artifact: report.targets[0]!.artifact,
        key: report.targets[0]!.actionKey,
        commit: git(project, 'rev-parse', 'HEAD'),
      });
    }
    writeFileSync(join(project, 'a.txt'), 'four\n');
  });
  afterAll(() => tmp.cleanup());

  const changedInput = (r: Awaited<ReturnType<typeof why>>): string | undefined =>
    r.changes.find((c) => c.path === 'a.txt')?.old;

  it('why compares with the latest build by default', async () => {
    const r = await why({ project, store, target: 'a' });
    expect(r.verdict).toBe('changed');
    expect(r.previousKey).toBe(builds[2]!.key);
    expect(changedInput(r)).toBe(sha256(Buffer.from('three\n')));
  });

  it('why --against an artifact digest compares with the build that produced it', async () => {
    const r = await why({ project, store, target: 'a', against: builds[0]!.artifact });
    expect(r.previousKey).toBe(builds[0]!.key);
    expect(r.previous).toEqual({ artifact: builds[0]!.artifact, sourceCommit: builds[0]!.commit });
    expect(changedInput(r)).toBe(sha256(Buffer.from('one\n')));
  });

  it('why --against a short source commit compares with the build of that commit', async () => {
    const r = await why({ project, store, target: 'a', against: builds[1]!.commit.slice(0, 10) });
    expect(r.previousKey).toBe(builds[1]!.key);
    expect(changedInput(r)).toBe(sha256(Buffer.from('two\n')));
  });

  it('the CLI takes --against and says which build it compared with', async () => {
    const r = await runCli([
      '--store',
      store,
      'why',
      '-C',
      project,
      'a',
      '--against',
      builds[0]!.artifact,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`change(s) since the build ${builds[0]!.artifact}`);
    expect(r.stdout).toContain(sha256(Buffer.from('one\n')));
  });

  it('why --against something no build has fails with BUILD_NOT_FOUND', async () => {
    const err = await why({
      project,
      store,
      target: 'a',
      against: `sha256:${'0'.repeat(64)}`,
    }).catch((e: unknown) => e);
    expect(isAirlockError(err, 'BUILD_NOT_FOUND')).toBe(true);
  });

  it('buildsOf answers which build produced a digest', async () => {
    const r = await buildsOf({ store, digest: builds[1]!.artifact });
    expect(r.builds.map((b) => [b.root, b.target, b.key, b.sourceCommit])).toEqual([
      [project, 'a', builds[1]!.key, builds[1]!.commit],
    ]);
  });

  it('gc with no retention forgets every build but the latest, which why can still read', async () => {
    const report = await storeGc({ store, retentionMs: 0 });
    expect(report.buildsForgotten).toBe(2);
    expect((await buildsOf({ store, digest: builds[0]!.artifact })).builds).toEqual([]);
    const r = await why({ project, store, target: 'a' });
    expect(r.previousKey).toBe(builds[2]!.key);
    expect(changedInput(r)).toBe(sha256(Buffer.from('three\n')));
  });
});
