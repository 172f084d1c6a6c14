import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExtractLimits } from '../archive/index.js';
import { errnoCode } from '../core/errors.js';
import { treeDigest, type Digest } from '../core/index.js';
import { hashTree } from '../hash/inputs.js';
import type { StatCache } from '../hash/stat-cache.js';
import { walkGlobs } from '../hash/walk.js';
import type { FsckProblem, Store } from '../store/index.js';

/** The Merkle tree digest of an unpacked toolchain root, unchanged files read from the stat cache. */
export async function rootTree(rootfs: string, cache: StatCache): Promise<Digest> {
  const { matched } = await walkGlobs(rootfs, ['**']);
  return treeDigest(await hashTree(rootfs, matched, cache));
}

const LIMIT_ENV: Record<keyof ExtractLimits, string> = {
  maxBytes: 'AIRLOCK_UNPACK_MAX_BYTES',
  maxEntries: 'AIRLOCK_UNPACK_MAX_ENTRIES',
  maxDepth: 'AIRLOCK_UNPACK_MAX_DEPTH',
  maxPathLength: 'AIRLOCK_UNPACK_MAX_PATH_LENGTH',
  maxRatio: 'AIRLOCK_UNPACK_MAX_RATIO',
};

/**
 * Unpack limits for toolchain images set in the environment
 * (AIRLOCK_UNPACK_MAX_BYTES …); unset or malformed values keep the defaults.
 */
export function unpackLimits(env: NodeJS.ProcessEnv): Partial<ExtractLimits> {
  const out: Partial<ExtractLimits> = {};
  for (const [key, name] of Object.entries(LIMIT_ENV) as [keyof ExtractLimits, string][]) {
    const text = env[name];
    if (text === undefined || !/^\d+$/.test(text.trim())) continue;
    out[key] = Number(text.trim());
  }
  return out;
}

/**
 * fsck of the unpacked toolchain roots: each root.json's recorded tree is
 * compared with what is on disk; with `repair`, an altered or unrecorded
 * root is removed (the next build that needs it unpacks it again).
 */
export async function checkImageRoots(
  store: Store,
  cache: StatCache,
  repair: boolean,
): Promise<FsckProblem[]> {
  const { readImageRoot, removeRoot } = await import('../registry/index.js');
  const rootsDir = store.paths.roots;
  let names: string[];
  try {
    names = await readdir(rootsDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const problems: FsckProblem[] = [];
  for (const name of names.sort()) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    const dir = join(rootsDir, name);
    const record = await readImageRoot(rootsDir, `sha256:${name}`).catch(() => undefined);
    let why: string | undefined;
    if (record?.tree === undefined) why = 'has no readable root.json with a tree digest';
    else {
      const tree = await rootTree(join(dir, 'rootfs'), cache);
      if (tree !== record.tree)
        why = `was altered: its tree is ${tree}, root.json says ${record.tree}`;
    }
    if (why === undefined) continue;
    if (repair) await removeRoot(store, dir);
    problems.push({
      kind: 'damaged-root',
      // A root unpacked before trees were recorded is not damage, only unverifiable.
      severity: record?.tree === undefined ? 'cleanable' : 'error',
      message: `toolchain root ${dir} ${why}${repair ? '; removed, the next build that needs it unpacks it again' : ''}`,
      path: dir,
      repaired: repair,
    });
  }
  return problems;
}
