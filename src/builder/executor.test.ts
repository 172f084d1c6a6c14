import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig, type ProjectConfig } from '../config/index.js';
import { fixedClock } from '../core/clock.js';
import type { Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { AirlockEvent } from '../core/events.js';
import { StatCache } from '../hash/stat-cache.js';
import type { SandboxResult, SandboxSpec } from '../sandbox/types.js';
import { Store } from '../store/index.js';
import type { ActionResult } from './action.js';
import type { AfterBuild, BuildContext, SandboxRunner, TargetBuild } from './executor.js';
import { buildTarget } from './executor.js';
import { BuildRecords } from './records.js';
import { buildGraph } from './scheduler.js';

/*
 * The executor in-process, with a fake sandbox runner: each step is a tiny
 * script of `write <path> <text>`, `copy <from> <to>` (from a staged input)
 * and `exit <status> <stderr>` commands run against the work directory.
 */
class FakeRunner implements SandboxRunner {
  readonly specs: SandboxSpec[] = [];
  fail?: Error;
  /** When set, every step prints this and exits with this status. */
  script?: { stdout: string; stderr: string; exitCode: number };

  run(spec: SandboxSpec): Promise<SandboxResult> {
    this.specs.push(spec);
    if (this.fail !== undefined) return Promise.reject(this.fail);
    if (this.script) {
      return Promise.resolve({
        exitCode: this.script.exitCode,
        signal: null,
        stdout: Buffer.from(this.script.stdout),
        stderr: Buffer.from(this.script.stderr),
        durationMs: 0,
      });
    }
    const [verb, a = '', ...rest] = spec.command.split(' ');
    const ok = (): SandboxResult => ({
      exitCode: 0,
      signal: null,
      stdout: Buffer.from(`ran ${spec.command}\n`),
      stderr: Buffer.alloc(0),
      durationMs: 0,
    });
    if (verb === 'write') {
      mkdirSync(dirname(join(spec.workDir, a)), { recursive: true });
      writeFileSync(join(spec.workDir, a), rest.join(' '));
      return Promise.resolve(ok());
    }
    if (verb === 'copy') {
      const input = spec.inputs.find((i) => a === i.dest || a.startsWith(`${i.dest}/`));
      if (!input) throw new Error(`no staged input holds ${a}`);
      const from = join(input.source, a.slice(input.dest.length));
      writeFileSync(join(spec.workDir, rest[0]!), readFileSync(from));
      return Promise.resolve(ok());
    }
    if (verb === 'exit') {
      return Promise.resolve({
        exitCode: Number(a),
        signal: null,
        stdout: Buffer.alloc(0),
        stderr: Buffer.from(rest.join(' ')),
        durationMs: 0,
      });
    }
    throw new Error(`fake runner: unknown command ${spec.command}`);
  }
}

describe('buildTarget with an injected sandbox runner', () => {
  let dir: string;
  let project: ProjectConfig;
  let store: Store;
  let records: BuildRecords;
  let runner: FakeRunner;
  let events: AirlockEvent[];
  let hooked: AfterBuild[];

  const configure = (targets: string): void => {
    const root = join(dir, 'p');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'src.txt'), 'source');
    const { config, problems } = parseConfig(
      `version: 1\nname: p\nsourceDateEpoch: 1700000000\ntargets:\n${targets}`,
      join(root, 'airlock.yaml'),
    );
    expect(problems).toEqual([]);
    project = config!;
  };

  const context = (over: Partial<BuildContext> = {}): BuildContext => ({
    project,
    store,
    statCache: StatCache.memory(),
    records,
    events: (e) => events.push(e),
    useCache: true,
    materialize: true,
    runner,
    afterBuild: (done) => {
      hooked.push(done);
      return Promise.resolve();
    },
    memo: { tools: new Map() },
    ...over,
  });

  const build = async (
    name: string,
    ctx = context(),
    deps: ReadonlyMap<string, TargetBuild> = new Map(),
  ): Promise<TargetBuild> => buildTarget(ctx, project.targets.get(name)!, deps);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-executor-'));
    store = await Store.open(join(dir, 'store'));
    records = new BuildRecords(join(dir, 'build.sqlite'));
    runner = new FakeRunner();
    events = [];
    hooked = [];
    configure(
      [
        '  lib: { sources: [src.txt], steps: ["write out/lib.txt built", "write out/two.txt second"], outputs: ["out/lib.txt", "out/two.txt"], toolchain: { host: [] } }',
        '  app: { sources: [src.txt], deps: [{ target: lib, path: vendor }], steps: ["copy vendor/out/lib.txt app.txt"], outputs: [app.txt], toolchain: { host: [] } }',
        '  broken: { sources: [src.txt], steps: ["exit 3 compiler exploded"], outputs: [never.txt], toolchain: { host: [] } }',
        '',
      ].join('\n'),
    );
  });
  afterEach(() => {
    records.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('on a cache miss', () => {
    it('runs every step through the runner, stores and tags the packed outputs, and writes them into the project', async () => {
      const lib = await build('lib');
      expect(runner.specs.map((s) => s.command)).toEqual([
        'write out/lib.txt built',
        'write out/two.txt second',
      ]);
      expect(runner.specs[0]!.sourceDateEpoch).toBe(1700000000);
      expect(runner.specs[0]!.inputs.map((i) => i.dest)).toEqual(['src.txt']);
      expect(lib.cached).toBe(false);
      expect(lib.result.outputs.entries.map((e) => e.path)).toEqual(['out/lib.txt', 'out/two.txt']);
      expect(lib.result.logs).toHaveLength(2);
      expect((await store.resolveTag('p/lib'))?.digest).toBe(lib.manifest.digest);
      expect((await store.getAction(lib.key))?.result).toBe(lib.resultDigest);
      expect(readFileSync(join(project.root, 'out/lib.txt'), 'utf8')).toBe('built');
      expect(records.lastBuild(project.root, 'lib')?.key).toBe(lib.key);
    });

    it('stages a dependency’s outputs at its declared path', async () => {
      const lib = await build('lib');
      const app = await build('app', context(), new Map([['lib', lib]]));
      expect(readFileSync(join(project.root, 'app.txt'), 'utf8')).toBe('built');
      expect(app.result.outputs.entries.map((e) => e.path)).toEqual(['app.txt']);
    });
  });

  describe('on a cache hit', () => {
    it('runs no step and restores outputs removed from the project', async () => {
      const first = await build('lib');
      rmSync(join(project.root, 'out'), { recursive: true });
      runner.specs.length = 0;
      const again = await build('lib');
      expect(runner.specs).toEqual([]);
      expect(again).toMatchObject({
        cached: true,
        key: first.key,
        resultDigest: first.resultDigest,
      });
      expect(readFileSync(join(project.root, 'out/two.txt'), 'utf8')).toBe('second');
    });

    it('writes nothing when the outputs are in place: no blob age refreshed, no database change', async () => {
      await build('lib');
      const blobsDir = join(dir, 'store', 'blobs', 'sha256');
      const ages = (): Record<string, number> =>
        Object.fromEntries(
          readdirSync(blobsDir).map((n) => [n, statSync(join(blobsDir, n)).mtimeMs]),
        );
      const before = ages();
      // data_version, read on another connection, changes with every commit of build.sqlite.
      const observer = new Database(join(dir, 'build.sqlite'), { readonly: true });
      const version = (): number => observer.pragma('data_version', { simple: true }) as number;
      const versionBefore = version();
      // An hour later, by the store's clock: any refreshed age would show.
      const later = await Store.open(join(dir, 'store'), {
        clock: fixedClock(Date.now() + 3_600_000),
      });
      try {
        const again = await build('lib', context({ store: later }));
        expect(again.cached).toBe(true);
        expect(ages()).toEqual(before);
        expect(version()).toBe(versionBefore);
      } finally {
        later.close();
        observer.close();
      }
    });

    it('rebuilds when the cached layer blob was altered', async () => {
      const first = await build('lib');
      const blob = store.blobPath(first.result.outputs.layer.digest);
      chmodSync(blob, 0o644);
      writeFileSync(blob, 'tampered');
      rmSync(join(project.root, 'out'), { recursive: true });
      runner.specs.length = 0;
      const again = await build('lib', context({ statCache: StatCache.memory() }));
      expect(again.cached).toBe(false);
      expect(runner.specs).toHaveLength(2);
      expect(readFileSync(join(project.root, 'out/lib.txt'), 'utf8')).toBe('built');
    });

    it('refuses a cached result that would write outside the declared outputs', async () => {
      const first = await build('lib');
      const evil: ActionResult = {
        ...first.result,
        outputs: {
          ...first.result.outputs,
          entries: [
            ...first.result.outputs.entries,
            { path: 'src.txt', kind: 'symlink', target: '/etc/passwd' },
          ],
        },
      };
      const stored = await store.putJson(evil);
      await store.putAction(first.key, stored.digest);
      runner.specs.length = 0;
      const again = await build('lib');
      expect(again.cached).toBe(false);
      expect(runner.specs).toHaveLength(2);
      expect(readFileSync(join(project.root, 'src.txt'), 'utf8')).toBe('source');
      expect(events).toContainEqual(
        expect.objectContaining({
          message: expect.stringContaining('would write outside the target'),
        }),
      );
    });
  });

  describe('two targets whose output globs overlap (dist/** and dist/b/**)', () => {
    it('keep each other’s outputs across cached builds, built together or alone', async () => {
      configure(
        [
          '  a: { sources: [src.txt], steps: ["write dist/a a"], outputs: ["dist/**"], toolchain: { host: [] } }',
          '  b: { sources: [src.txt], steps: ["write dist/b/x x"], outputs: ["dist/b/**"], toolchain: { host: [] } }',
          '',
        ].join('\n'),
      );
      for (let i = 0; i < 3; i++) {
        const summary = await buildGraph(context(), ['a', 'b'], 2);
        expect(summary.failures).toEqual([]);
        expect(readFileSync(join(project.root, 'dist/a'), 'utf8')).toBe('a');
        expect(readFileSync(join(project.root, 'dist/b/x'), 'utf8')).toBe('x');
      }
      expect(runner.specs).toHaveLength(2); // built once each, then restored from the cache
      await build('a');
      expect(readFileSync(join(project.root, 'dist/b/x'), 'utf8')).toBe('x');
    });
  });

  describe('the after-build hook', () => {
    it('is called once per target with the build, its action and result, and whether it was cached', async () => {
      const built = await build('lib');
      const cached = await build('lib');
      expect(hooked.map((h) => [h.build.target, h.cached, h.build.key])).toEqual([
        ['lib', false, built.key],
        ['lib', true, built.key],
      ]);
      expect(hooked[0]!.action.steps).toEqual(project.targets.get('lib')!.steps);
      expect(hooked[1]!.result.outputs.tree).toBe(cached.result.outputs.tree);
    });

    it('fails the target when it throws, before the target is reported done', async () => {
      const ctx = context({ afterBuild: () => Promise.reject(new Error('attestation failed')) });
      await expect(build('lib', ctx)).rejects.toThrow('attestation failed');
      expect(
        events.filter((e) => e.type === 'target').map((e) => (e as { state: string }).state),
      ).toEqual(['running']);
    });
  });

  describe('when a step fails', () => {
    it('throws STEP_FAILED with the tail of its output and caches nothing', async () => {
      const err = await build('broken').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AirlockError);
      expect(err).toMatchObject({ code: 'STEP_FAILED', details: { exitCode: 3, step: 0 } });
      expect((err as Error).message).toContain('compiler exploded');
      expect(hooked).toEqual([]);
      expect(existsSync(join(project.root, 'never.txt'))).toBe(false);
    });

    it('names log blobs in its hint that hold everything the step printed, stdout too', async () => {
      // A step that explains its failure on stdout (make, tsc, most test runners).
      runner.script = { stdout: 'reason on stdout\n', stderr: 'note on stderr\n', exitCode: 5 };
      const err = (await build('lib').catch((e: unknown) => e)) as AirlockError;
      expect(err.code).toBe('STEP_FAILED');
      const named = [...(err.hint ?? '').matchAll(/(sha256:[0-9a-f]{64})/g)].map((m) => m[1]!);
      expect(named).toHaveLength(2);
      const logs = (await Promise.all(named.map((d) => store.getBytes(d as Digest))))
        .map((b) => b.toString('utf8'))
        .join('');
      expect(logs).toContain('reason on stdout');
      expect(logs).toContain('note on stderr');
    });

    it('turns a sandbox timeout into STEP_TIMEOUT naming the limit to raise', async () => {
      runner.fail = new AirlockError('SANDBOX_TIMEOUT', 'timed out');
      await expect(build('lib')).rejects.toMatchObject({ code: 'STEP_TIMEOUT' });
    });
  });
});
