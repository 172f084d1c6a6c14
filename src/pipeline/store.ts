import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionResult } from '../build/action.js';
import { digestHex } from '../core/digest.js';
import {
  Store,
  defaultStoreRoot,
  type FsckProblem,
  type FsckReport,
  type GcReport,
} from '../store/index.js';
import { checkBuildDb, openBuildDbs } from './build-db.js';
import { checkImageRoots } from './image-roots.js';

/** `airlock store fsck`: verifies every blob and reference of the store. */
export async function runFsck(opts: {
  store?: string | undefined;
  repair?: boolean;
}): Promise<FsckReport> {
  const repair = opts.repair ?? true;
  const store = await Store.open(opts.store ?? defaultStoreRoot(), {
    onDamage: repair ? 'repair' : 'report',
  });
  try {
    // With no space left, fsck only reports: a repair would need to write.
    const canRepair = repair && !store.damage.some((d) => d.kind === 'store-full');
    const report = await store.fsck({ repair: canRepair });
    const more: FsckProblem[] = [];
    const db = checkBuildDb(store, canRepair);
    if (db !== undefined) more.push(db);
    if (db?.kind !== 'store-full' && (db === undefined || db.repaired)) {
      const { statCache, records } = openBuildDbs(store, () => undefined);
      try {
        more.push(...(await checkImageRoots(store, statCache, canRepair)));
        statCache.flush();
      } finally {
        statCache.close();
        records.close();
      }
    }
    report.problems.push(...more);
    report.ok = report.problems.every((p) => p.severity !== 'error');
    return report;
  } finally {
    store.close();
  }
}

export interface StoreGcReport extends GcReport {
  /** Extracted output trees (airlock/v1/trees) no cached result names any more. */
  treesRemoved: number;
  /** Unpacked toolchain roots (airlock/v1/roots) whose image is no longer tagged. */
  rootsRemoved: number;
  /** Stat-cache entries of files that no longer exist. */
  statEntriesPruned: number;
}

/**
 * `airlock store gc`: deletes what no tag or young action-cache entry
 * reaches, then the extracted caches beside the blobs that nothing live
 * needs (both are re-created from verified blobs on demand).
 */
export async function runGc(opts: {
  store?: string | undefined;
  retentionMs: number;
  dryRun: boolean;
}): Promise<StoreGcReport> {
  const store = await Store.open(opts.store ?? defaultStoreRoot());
  try {
    const report = await store.gc({ retentionMs: opts.retentionMs, dryRun: opts.dryRun });
    const freed = new Set<string>(report.freed);
    const liveTrees = new Set<string>();
    for (const entry of await store.listActions()) {
      if (freed.has(entry.result)) continue;
      const result = await store.getJson<ActionResult>(entry.result).catch(() => undefined);
      if (result?.outputs?.tree) liveTrees.add(digestHex(result.outputs.tree));
    }
    const liveRoots = new Set(
      (await store.listTags())
        .filter((t) => !freed.has(t.descriptor.digest))
        .map((t) => digestHex(t.descriptor.digest)),
    );
    const sweep = async (dir: string, live: Set<string>): Promise<number> => {
      const names = await readdir(join(store.root, 'airlock', 'v1', dir)).catch(() => []);
      let removed = 0;
      for (const name of names) {
        if (!/^[0-9a-f]{64}$/.test(name) || live.has(name)) continue;
        if (!opts.dryRun) {
          await rm(join(store.root, 'airlock', 'v1', dir, name), { recursive: true, force: true });
        }
        removed++;
      }
      return removed;
    };
    const treesRemoved = await sweep('trees', liveTrees);
    const rootsRemoved = await sweep('roots', liveRoots);
    let statEntriesPruned = 0;
    if (!opts.dryRun) {
      const { statCache: cache, records } = openBuildDbs(store, () => undefined);
      try {
        statEntriesPruned = cache.prune();
        records.clearCaches(); // recomputed on the next build
      } finally {
        cache.close();
        records.close();
      }
    }
    return { ...report, treesRemoved, rootsRemoved, statEntriesPruned };
  } finally {
    store.close();
  }
}
