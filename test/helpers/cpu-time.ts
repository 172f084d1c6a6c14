// A vitest setup file: when AIRLOCK_TEST_CPU_LOG names a file, appends one
// JSON line per test file with the CPU seconds it cost — the worker's own
// plus every child process it started and reaped (spawned CLIs, sandboxes,
// servers), read from /proc/self/stat. On a loaded machine wall times say
// little; CPU time is what the suite costs on any machine.
import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, expect } from 'vitest';

const log = process.env.AIRLOCK_TEST_CPU_LOG;

/** user + system seconds of this process and its reaped children (fields 14–17 of /proc/self/stat). */
function cpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14–17.
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100;
}

if (log) {
  // Evaluated before the test file is imported: its imports count too.
  const start = cpuSeconds();
  // Registered first, so it runs after the file's own afterAll hooks (servers stopped, children reaped).
  afterAll(() => {
    appendFileSync(
      log,
      `${JSON.stringify({ file: expect.getState().testPath, cpu: +(cpuSeconds() - start).toFixed(2) })}\n`,
    );
  });
}
