// When the sandbox removes the scratch (staging) directories of finished steps.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../src/core/index.js';
import { runInSandbox, settleSandboxScratch } from '../src/sandbox/index.js';
import { baseSpec, useTempDir } from './helpers/sandbox.js';

/** Polls `done` until it holds (at most 20 s: the removals go through the thread pool). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(done()).toBe(true);
}

describe("a finished step's staging directory", () => {
  const dirs = useTempDir('sbx-staging');

  it('is kept while the next step runs, and removed once no step has run for a while, without a settle', async () => {
    const parent = join(dirs.path, 'idle');
    const work = join(parent, 'work-1');
    mkdirSync(work, { recursive: true });
    // The staging directories whose overlay was mounted (overlay makes work/work in them).
    const used = (): string[] =>
      readdirSync(parent).filter(
        (n) => n.startsWith('work-1.overlay-') && existsSync(join(parent, n, 'work', 'work')),
      );
    await settleSandboxScratch();

    expect((await runInSandbox(baseSpec(work, 'true'))).exitCode).toBe(0);
    // Read before anything else runs: the next step starts in this same turn.
    const [first, ...more] = used();
    expect(first).toBeDefined();
    expect(more).toEqual([]);
    let seenWhileRunning: boolean | undefined;
    const stop = new AbortController();
    const err: unknown = await runInSandbox(
      baseSpec(work, 'echo ready; sleep 600', {
        signal: stop.signal,
        onOutput: () => {
          seenWhileRunning = existsSync(join(parent, first!));
          stop.abort();
        },
      }),
    ).catch((e: unknown) => e);
    expect(isAirlockError(err, 'SANDBOX_FAILED')).toBe(true);
    // Removing it would have shared the machine with the running step.
    expect(seenWhileRunning).toBe(true);
    const both = used();
    expect(both).toHaveLength(2);
    expect(both).toContain(first);

    // No step runs now: both go by themselves.
    await until(() => both.every((n) => !existsSync(join(parent, n))));
    expect(used()).toEqual([]);
    await settleSandboxScratch();
    expect(readdirSync(parent)).toEqual(['work-1']);
  });
});
