import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest test files, longest first (`npm test` lists the slowest files).
 * They start first so that no long file begins while the others are nearly
 * done: on a fresh clone vitest has no timings and would order by file size.
 */
const LONGEST_FIRST = [
  'test/deploy.test.ts',
  'test/deploy-demo.test.ts',
  'test/init-corpus-npm.test.ts',
  'test/ui-browser.test.ts',
  'test/daemon-fuzz.test.ts',
  'test/init-corpus.test.ts',
  'test/evidence.test.ts',
  'test/ts-service.test.ts',
  'test/runnable-image.test.ts',
  'test/remote-cache-trust.test.ts',
  'test/npm-install.test.ts',
  'test/api-docs.test.ts',
  'test/escape-suite.test.ts',
  'test/kill-build.test.ts',
  'test/lock-fetch.test.ts',
];

/** The files of LONGEST_FIRST in its order, then the rest in vitest's own order. */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = LONGEST_FIRST.indexOf(relative(this.ctx.config.root, f.moduleId));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    const rest = await super.sort(files.filter((f) => rank(f) === LONGEST_FIRST.length));
    return [
      ...files.filter((f) => rank(f) < LONGEST_FIRST.length).sort((a, b) => rank(a) - rank(b)),
      ...rest,
    ];
  }
}

/**
 * End-to-end files that need a process of their own: they mock modules
 * (vi.mock), set process.env while they run, or assert which packages their
 * own process has loaded (stamp-writer: no signing code), which another file
 * sharing the worker would have loaded (none uses the shared verdaccio).
 */
const ISOLATED = [
  'test/verify-store-reads.test.ts',
  'test/build-stamp.test.ts',
  'test/sandbox-security.test.ts',
  'test/stamp-writer.test.ts',
];

/**
 * The test files that download from the public npm registry. On a machine
 * whose network goes through a TLS-intercepting proxy, Node trusts the proxy
 * only through NODE_EXTRA_CA_CERTS, which costs every Node process ~40 ms of
 * CPU at start: `npm test` sets it aside as AIRLOCK_TEST_CA_CERTS, and only
 * these files' workers (and what they spawn: npm) get it back.
 */
const PUBLIC_NPM = ['test/ts-service.test.ts', 'test/runnable-image.test.ts'];
const caCerts = process.env.AIRLOCK_TEST_CA_CERTS ?? process.env.NODE_EXTRA_CA_CERTS;

export default defineConfig({
  test: {
    projects: [
      // Unit tests beside the code share their worker's module cache (no
      // process per file): none changes process-wide state it does not restore.
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'], isolate: false } },
      // Cross-module and CLI tests: a worker runs several files one after
      // another with one module cache (each file would otherwise start a
      // process and load the modules again: ~35% of these files' CPU). Each
      // must leave the process as it found it (test/helpers/shared-worker.ts
      // checks); the files that mock modules or change the environment get a
      // fresh process each. One npm registry (verdaccio) serves every file of the run.
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ISOLATED, ...PUBLIC_NPM],
          isolate: false,
          setupFiles: ['test/helpers/shared-worker.ts'],
          globalSetup: ['test/helpers/verdaccio-setup.ts'],
        },
      },
      { extends: true, test: { name: 'e2e-isolated', include: ISOLATED } },
      {
        extends: true,
        test: {
          name: 'e2e-public-npm',
          include: PUBLIC_NPM,
          env: caCerts ? { NODE_EXTRA_CA_CERTS: caCerts } : {},
        },
      },
    ],
    setupFiles: ['test/helpers/cpu-time.ts'],
    // `airlock build` starts a build daemon on demand outside CI. The tests
    // spawn the CLI in hundreds of temp projects: each would leave a daemon
    // (and its watcher) running for hours, and later builds of a project
    // would run in it instead of in-process. The daemon tests set it to 1 and
    // stop every daemon they start; the daemon fuzz test compares each daemon
    // build with a --no-daemon one.
    env: { AIRLOCK_DAEMON: '0' },
    sequence: { sequencer: LongestFirst },
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
