// A build killed with SIGKILL at any moment must leave no process behind: not
// bwrap, not its sandbox child (which, killed early enough, would otherwise wait
// forever on an eventfd), not the step.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, tempDir } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';

/** Pids of processes whose command line contains `needle`. */
function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Waits until nothing matches `needle`, or gives up after `ms` and returns what is left. */
async function leftovers(needle: string, ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = processesWith(needle);
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('airlock build killed with SIGKILL', () => {
  const tmp = tempDir('kill-build');
  afterAll(() => tmp.cleanup());

  it('leaves no sandbox process behind, whenever it is killed', async () => {
    // The marker is in bwrap's, the shell's and sleep's command lines.
    const marker = `4242.${process.pid}`;
    const dir = writeProject(
      join(tmp.path, 'p'),
      [
        'version: 1',
        'name: killed',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  t:',
        '    sources: ["a.txt"]',
        `    steps: ["sleep ${marker}; echo never"]`,
        '    outputs: ["out/**"]',
        '',
      ].join('\n'),
    );
    const store = join(tmp.path, 'store');
    const start = (): { child: ReturnType<typeof spawn>; exited: Promise<void> } => {
      const child = spawn(process.execPath, [CLI, '--store', store, 'build', '-C', dir], {
        stdio: 'ignore',
        env: { ...process.env, NO_COLOR: '1', CI: '1' },
      });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      return { child, exited };
    };

    // How long until the sandbox is up: the kills below fall before, during and after it.
    const first = start();
    const t0 = Date.now();
    while (processesWith(marker).length === 0) await new Promise((r) => setTimeout(r, 5));
    const upAfter = Date.now() - t0;
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await leftovers(marker, 5000)).toEqual([]);

    const survivors: string[] = [];
    for (let round = 0; round < 24; round++) {
      const delay = Math.floor(Math.random() * (upAfter + 60));
      const { child, exited } = start();
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;
      const left = await leftovers(marker, 5000);
      if (left.length > 0) {
        survivors.push(`round ${round} (killed after ${delay} ms): pids ${left.join(', ')}`);
        for (const pid of left) process.kill(pid, 'SIGKILL');
      }
    }
    expect(survivors).toEqual([]);
  }, 120_000);
});
