import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['test/helpers/cpu-time.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One worker more than there are cores: most test time is spent waiting on
    // spawned CLIs, sandboxes and registries, so a third worker on two cores
    // keeps both busy (measured on 6 of the slowest files: 43-47 s with 2
    // workers, 33-35 s with 3, no gain with 4).
    maxWorkers: Math.min(4, availableParallelism() + 1),
  },
});
