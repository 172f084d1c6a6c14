import { Store, defaultStoreRoot, type FsckReport, type GcReport } from '../store/index.js';

/** `airlock store fsck`: verifies every blob and reference of the store. */
export async function runFsck(opts: {
  store?: string | undefined;
  repair?: boolean;
}): Promise<FsckReport> {
  const store = await Store.open(opts.store ?? defaultStoreRoot());
  try {
    return await store.fsck({ repair: opts.repair ?? true });
  } finally {
    store.close();
  }
}

/** `airlock store gc`: deletes what no tag or young action-cache entry reaches. */
export async function runGc(opts: {
  store?: string | undefined;
  retentionMs: number;
  dryRun: boolean;
}): Promise<GcReport> {
  const store = await Store.open(opts.store ?? defaultStoreRoot());
  try {
    return await store.gc({ retentionMs: opts.retentionMs, dryRun: opts.dryRun });
  } finally {
    store.close();
  }
}
