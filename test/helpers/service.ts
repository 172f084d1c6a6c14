// The example rollout service (examples/rollout-service) as a test project:
// copied into a temp dir with its base image and release rewritten.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, type Digest } from '../../src/core/index.js';
import type { RegistryClient } from '../../src/registry/index.js';
import type { Store } from '../../src/store/index.js';
import { pushToolchainImage, toolchainEntries } from './rootfs.js';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'rollout-service');

/** What a release of the service does: its version string, and whether it fails or is slow. */
export interface Release {
  version: string;
  fail?: boolean;
  delayMs?: number;
}

/** Copies the example into `dir` with `base` as image.base and `release` as src/release.json. */
export function serviceProject(dir: string, base: string, release: Release): string {
  cpSync(EXAMPLE, dir, { recursive: true });
  const yaml = join(dir, 'airlock.yaml');
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/base: '[^']*'/, `base: '${base}'`));
  writeFileSync(join(dir, 'src', 'release.json'), `${JSON.stringify(release)}\n`);
  return dir;
}

/** Pushes the node-on-busybox base image to `repo` and returns its digest. */
export async function pushBaseImage(
  store: Store,
  client: RegistryClient,
  repo = 'base/node',
): Promise<Digest> {
  const image = await pushToolchainImage(store, client, repo, [toolchainEntries({ node: true })]);
  return image.digest;
}

/** A short stable id for names of containers and temp things derived from a digest. */
export function shortId(d: string): string {
  return sha256(d).slice(7, 19);
}
