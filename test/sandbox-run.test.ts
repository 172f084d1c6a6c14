// Running steps: status and signal, streaming, repro variants, abort and unavailable bwrap.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAirlockError, type AirlockError } from '../src/core/index.js';
import {
  findLibfaketime,
  probeSandbox,
  runInSandbox,
  settleSandboxScratch,
} from '../src/sandbox/index.js';
import { baseSpec, tempDir, token, useTempDir } from './helpers/sandbox.js';

/** Polls `done` until it holds (at most 20 s: the removals and the spare go through the thread pool). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(done()).toBe(true);
}

const LIBFAKETIME = findLibfaketime() ?? 'libfaketime is not installed (apt-get install faketime)';

describe('runInSandbox', () => {
  const dirs = useTempDir('sbx-run');

  describe('when the step exits', () => {
    it('reports a non-zero exit status without a signal', async () => {
      const r = await runInSandbox(baseSpec(dirs.path, 'echo out; echo err >&2; exit 3'));
      expect(r).toMatchObject({ exitCode: 3, signal: null });
      expect(r.stdout.toString()).toBe('out\n');
      expect(r.stderr.toString()).toBe('err\n');
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('reports the signal that killed the step', async () => {
      const r = await runInSandbox(baseSpec(dirs.path, 'kill -TERM $$'));
      expect(r).toMatchObject({ exitCode: 143, signal: 'SIGTERM' });
    });
  });

  describe('when the step breaks a limit', () => {
    it('kills it past timeoutMs and rejects with SANDBOX_TIMEOUT', async () => {
      const err: unknown = await runInSandbox(
        baseSpec(dirs.path, 'sleep 600', { timeoutMs: 300 }),
      ).catch((e: unknown) => e);
      expect(isAirlockError(err, 'SANDBOX_TIMEOUT')).toBe(true);
    });

    it('kills it past maxOutputBytes and rejects with SANDBOX_OUTPUT_LIMIT', async () => {
      const err: unknown = await runInSandbox(
        baseSpec(dirs.path, 'yes | head -c 5000000; sleep 600', { maxOutputBytes: 10_000 }),
      ).catch((e: unknown) => e);
      expect(isAirlockError(err, 'SANDBOX_OUTPUT_LIMIT')).toBe(true);
    });

    it('caps /tmp and HOME at tmpfsBytes', async () => {
      const r = await runInSandbox(
        baseSpec(dirs.path, 'df -k /tmp /home/build | tail -n 2', {
          tmpfsBytes: { tmp: 2 * 1024 * 1024, home: 4 * 1024 * 1024 },
        }),
      );
      const sizes = r.stdout
        .toString()
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[1]);
      expect(sizes).toEqual(['2048', '4096']);
    });
  });

  describe('when the work directory lies inside a bound source directory (a store inside the project)', () => {
    it('writes through to the host work directory, shows no host path and leaves nothing beside it', async () => {
      const project = dirs.path;
      mkdirSync(join(project, 'src'), { recursive: true });
      writeFileSync(join(project, 'src', 'a.txt'), 'a\n');
      writeFileSync(join(project, 'top.txt'), 'top\n');
      const work = join(project, '.store', 'tmp', 'work-1');
      mkdirSync(work, { recursive: true });
      const r = await runInSandbox(
        baseSpec(
          work,
          'cat src/a.txt top.txt; cat /proc/self/mountinfo > mounts; mkdir -p out/d && echo o > out/d/f && mv out/d out/e && rm -f mounts.tmp',
          {
            inputs: [
              { source: join(project, 'src'), dest: 'src' },
              { source: join(project, 'top.txt'), dest: 'top.txt' },
            ],
          },
        ),
      );
      expect(r.stderr.toString()).toBe('');
      expect(r.stdout.toString()).toBe('a\ntop\n');
      expect(readFileSync(join(work, 'out', 'e', 'f'), 'utf8')).toBe('o\n');
      expect(readFileSync(join(work, 'mounts'), 'utf8')).not.toContain(project);
      // The bind stubs are gone when the result is reported; the overlays' scratch
      // directory (and the one made ahead for the next step) once settled.
      expect(readdirSync(work).sort()).toEqual(['mounts', 'out']);
      await settleSandboxScratch();
      expect(readdirSync(join(project, '.store', 'tmp'))).toEqual(['work-1']);
    });
  });

  describe("the overlays' scratch directory", () => {
    it('is removed after the result is reported, never while the step runs, and the outputs stay', async () => {
      const parent = join(dirs.path, 'scratch');
      const work = join(parent, 'work-1');
      mkdirSync(work, { recursive: true });
      const scratch = (): string[] =>
        readdirSync(parent).filter((n) => n.startsWith('work-1.overlay-'));
      await settleSandboxScratch();
      const r = await runInSandbox(baseSpec(work, 'mkdir out && echo kept > out/f'));
      expect(r.exitCode).toBe(0);
      // Reported first: this run's scratch directory is still there (the removal
      // waits for the next turn of the event loop), the outputs are in place.
      expect(scratch().length).toBeGreaterThanOrEqual(1);
      expect(readFileSync(join(work, 'out', 'f'), 'utf8')).toBe('kept\n');
      await settleSandboxScratch();
      expect(scratch()).toEqual([]);
      expect(readFileSync(join(work, 'out', 'f'), 'utf8')).toBe('kept\n');
    });

    it('made ahead for the next step is used by it, and a touched one is not', async () => {
      const parent = join(dirs.path, 'spare');
      const work = join(parent, 'work-1');
      mkdirSync(work, { recursive: true });
      const scratch = (): string[] =>
        readdirSync(parent)
          .filter((n) => n.startsWith('work-1.overlay-'))
          .sort();
      // The scratch directories the running step's overlay uses (overlay makes work/work in it).
      const inUse = (): string[] =>
        scratch().filter((n) => existsSync(join(parent, n, 'work', 'work')));
      // A step that holds its mounts until the host has looked at them, then is aborted
      // (a file written into the work directory from outside is no signal: the
      // overlay may have cached its absence).
      const held = async (): Promise<string[]> => {
        let seen: string[] = [];
        const stop = new AbortController();
        const err: unknown = await runInSandbox(
          baseSpec(work, 'echo ready; sleep 600', {
            signal: stop.signal,
            onOutput: () => {
              seen = inUse();
              stop.abort();
            },
          }),
        ).catch((e: unknown) => e);
        expect(isAirlockError(err, 'SANDBOX_FAILED')).toBe(true);
        return seen;
      };
      const spareReady = async (): Promise<string> => {
        await until(() => scratch().length === 1);
        const [spare] = scratch();
        await until(() => readdirSync(join(parent, spare!)).length === 2);
        return spare!;
      };
      await settleSandboxScratch();
      await runInSandbox(baseSpec(work, 'true'));
      const spare = await spareReady();
      expect(await held()).toEqual([spare]);
      await settleSandboxScratch();
      expect(scratch()).toEqual([]);

      // A spare with anything in it is never used: the run makes its own, and it is removed.
      await runInSandbox(baseSpec(work, 'true'));
      const touched = await spareReady();
      writeFileSync(join(parent, touched, 'work', 'planted'), 'x');
      const used = await held();
      expect(used).toHaveLength(1);
      expect(used).not.toContain(touched);
      await settleSandboxScratch();
      expect(scratch()).toEqual([]);
    });

    it('is gone when the process exits right after its steps, spare included', () => {
      const parent = join(dirs.path, 'exit');
      const work = join(parent, 'work-1');
      mkdirSync(work, { recursive: true });
      const script = [
        `import { runInSandbox } from ${JSON.stringify(join(import.meta.dirname, '..', 'dist', 'sandbox', 'index.js'))};`,
        `const spec = { workDir: ${JSON.stringify(work)}, inputs: [], tools: [], env: {}, sourceDateEpoch: 0, command: 'echo x > f' };`,
        'for (let i = 0; i < 3; i++) if ((await runInSandbox(spec)).exitCode !== 0) process.exit(3);',
      ].join('\n');
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: join(import.meta.dirname, '..'),
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      expect(readdirSync(parent)).toEqual(['work-1']);
      expect(readdirSync(work)).toEqual(['f']);
    });
  });

  it('compiles C with the host cc, resolved through /etc/alternatives, to identical bytes', async () => {
    const work = tempDir('sbx-run-cc');
    try {
      writeFileSync(join(work.path, 'hello.c'), 'int main(void) { return 42; }\n');
      const compile = baseSpec(work.path, 'cc -O2 -o hello hello.c && ./hello', { tools: [] });
      const first = await runInSandbox(compile);
      expect(first.stderr.toString()).toBe('');
      expect(first.exitCode).toBe(42);
      const bytes = readFileSync(join(work.path, 'hello'));
      const second = await runInSandbox(compile);
      expect(second.exitCode).toBe(42);
      expect(readFileSync(join(work.path, 'hello'))).toEqual(bytes);
    } finally {
      work.cleanup();
    }
  });

  it('streams output through onOutput and returns the same bytes', async () => {
    const seen: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    const r = await runInSandbox({
      ...baseSpec(dirs.path, 'echo one; echo two >&2; echo three'),
      onOutput: (stream, chunk) => seen[stream].push(chunk),
    });
    expect(Buffer.concat(seen.stdout).toString()).toBe('one\nthree\n');
    expect(Buffer.concat(seen.stderr)).toEqual(r.stderr);
    expect(r.stdout.toString()).toBe('one\nthree\n');
  });

  describe('with a repro variant', () => {
    it('shifts the clock with libfaketime from extraEnv', async () => {
      expect(existsSync(LIBFAKETIME)).toBe(true);
      const command = 'date +%s; node -p "Math.floor(Date.now() / 1000)"';
      const plain = await runInSandbox(baseSpec(dirs.path, command));
      const shifted = await runInSandbox(
        baseSpec(dirs.path, command, {
          variant: { extraEnv: { LD_PRELOAD: LIBFAKETIME, FAKETIME: '+3d' } },
        }),
      );
      const [plainDate, plainNode] = plain.stdout.toString().trim().split('\n').map(Number);
      const [fakeDate, fakeNode] = shifted.stdout.toString().trim().split('\n').map(Number);
      const threeDays = 3 * 86_400;
      // Within an hour of three days: the runs are moments apart.
      expect(Math.abs(fakeDate! - plainDate! - threeDays)).toBeLessThan(3600);
      expect(Math.abs(fakeNode! - plainNode! - threeDays)).toBeLessThan(3600);
    });

    it('starts the sandbox with the variant umask; the step still runs under umask 022', async () => {
      const r = await runInSandbox(
        baseSpec(dirs.path, 'grep Umask /proc/1/status; umask', { variant: { umask: 0o077 } }),
      );
      expect(r.stdout.toString()).toBe('Umask:\t0077\n0022\n');
    });

    it('starts bwrap with the variant host environment, which never reaches the step', async () => {
      const r = await runInSandbox(
        baseSpec(dirs.path, "tr '\\0' '\\n' < /proc/1/environ; echo ---; env", {
          variant: { hostEnv: { TZ: 'Asia/Kathmandu', AIRLOCK_NOISE: 'x' } },
        }),
      );
      const [bwrap, step] = r.stdout.toString().split('---\n');
      expect(bwrap).toContain('AIRLOCK_NOISE=x\n'); // the sandbox's pid 1 was started with it
      expect(step).not.toContain('AIRLOCK_NOISE');
      expect(step).toMatch(/^TZ=UTC$/m);
    });

    it('uses the variant hostname over the spec one', async () => {
      const r = await runInSandbox(
        baseSpec(dirs.path, 'hostname', { hostname: 'first', variant: { hostname: 'second' } }),
      );
      expect(r.stdout.toString()).toBe('second\n');
    });

    it('sees the same inputs whichever order they are mounted in', async () => {
      const inputs = tempDir('sbx-run-inputs');
      try {
        for (const n of ['a', 'b', 'c']) writeFileSync(join(inputs.path, n), n);
        const spec = baseSpec(dirs.path, 'cat in/a in/b in/c', {
          inputs: ['a', 'b', 'c'].map((n) => ({ source: join(inputs.path, n), dest: `in/${n}` })),
        });
        const forward = await runInSandbox(spec);
        const reversed = await runInSandbox({ ...spec, variant: { reverseInputs: true } });
        expect(forward.stdout.toString()).toBe('abc');
        expect(reversed.stdout).toEqual(forward.stdout);
      } finally {
        inputs.cleanup();
      }
    });
  });

  describe('when aborted', () => {
    it('kills the whole sandbox and rejects with SANDBOX_FAILED', async () => {
      const marker = `late-${token()}`;
      const controller = new AbortController();
      const pending = runInSandbox({
        ...baseSpec(dirs.path, `echo started; sleep 20; touch ${marker}`),
        signal: controller.signal,
        onOutput: () => controller.abort(new Error('cancelled by test')),
      });
      const err: unknown = await pending.catch((e: unknown) => e);
      expect(isAirlockError(err, 'SANDBOX_FAILED')).toBe(true);
      expect((err as AirlockError).details).toMatchObject({ aborted: true });
      expect(existsSync(join(dirs.path, marker))).toBe(false);
    });

    it('does not start when the signal is already aborted', async () => {
      const err: unknown = await runInSandbox({
        ...baseSpec(dirs.path, `touch never`),
        signal: AbortSignal.abort(),
      }).catch((e: unknown) => e);
      expect(isAirlockError(err, 'SANDBOX_FAILED')).toBe(true);
      expect(existsSync(join(dirs.path, 'never'))).toBe(false);
    });
  });

  it('rejects with SANDBOX_FAILED and bwrap’s reason when the sandbox cannot be set up', async () => {
    const work = tempDir('sbx-run-setup');
    const input = tempDir('sbx-run-setup-in');
    try {
      // A directory input cannot be mounted over a file of the same name.
      writeFileSync(join(work.path, 'deps'), 'a file');
      const err: unknown = await runInSandbox(
        baseSpec(work.path, 'true', { inputs: [{ source: input.path, dest: 'deps' }] }),
      ).catch((e: unknown) => e);
      expect(isAirlockError(err, 'SANDBOX_FAILED')).toBe(true);
      expect((err as AirlockError).message).toMatch(/bubblewrap could not set up/);
      expect(readdirSync(work.path)).toEqual(['deps']);
    } finally {
      work.cleanup();
      input.cleanup();
    }
  });
});

describe('probeSandbox', () => {
  it('finds a working bwrap and its version', async () => {
    const probe = await probeSandbox();
    expect(probe.bwrap).toMatch(/\/bwrap$/);
    expect(probe.version).toMatch(/^\d+\.\d+/);
  });

  describe('when bwrap is not on the search path', () => {
    it('rejects with SANDBOX_UNAVAILABLE and says how to install it', async () => {
      const empty = tempDir('sbx-nobwrap');
      try {
        const err: unknown = await probeSandbox({ searchPath: empty.path }).catch(
          (e: unknown) => e,
        );
        expect(isAirlockError(err, 'SANDBOX_UNAVAILABLE')).toBe(true);
        expect((err as AirlockError).hint).toMatch(/apt-get install bubblewrap/);
        expect((err as AirlockError).details).toMatchObject({ searchPath: empty.path });
      } finally {
        empty.cleanup();
      }
    });
  });
});
