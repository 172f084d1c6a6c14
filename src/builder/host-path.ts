import { accessSync, constants, lstatSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/*
 * Finding host tools on a run's PATH. Node built-ins only: the build stamp's
 * fast path records a no-op's audit events (which name host tools' packages)
 * without loading the toolchain's hashing code.
 */

/** The environment a build finds its host tools in: `PATH`, and `HOME` (a launcher's package may not be all of it). */
export type HostEnv = Readonly<Record<string, string | undefined>>;

/** The `PATH` of `env`, or the system's directories when it has none. */
export function pathOf(env: HostEnv): string {
  return env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin';
}

/** The first executable `name` on `envPath` (not following symlinks), if any. */
export function findOnPath(name: string, envPath: string): string | undefined {
  if (name.includes('/')) return undefined;
  for (const dir of envPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (!lstatSync(candidate).isDirectory()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}
