// Podman for the tests: rootful podman on these machines needs the runc
// runtime and explicit ulimits (see src/deploy/podman.ts and scripts/setup.sh).
import { execFileSync } from 'node:child_process';
import { PODMAN_RUN_FLAGS } from '../../src/deploy/podman.js';

/** Fails loudly (never skips) when podman is missing: scripts/setup.sh installs it. */
export function requirePodman(): void {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('podman is missing: run scripts/setup.sh (apt-get install podman runc)');
  }
}

/** `podman <args>` with the runtime flags inserted after `run`/`create`. */
export function podmanArgs(args: string[]): string[] {
  const [cmd, ...rest] = args;
  return cmd === 'run' || cmd === 'create' ? [cmd, ...PODMAN_RUN_FLAGS, ...rest] : args;
}
