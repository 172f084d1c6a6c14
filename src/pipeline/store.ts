import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionResult, BuildRecord } from '../builder/action.js';
import { BuildRecords } from '../builder/records.js';
import { digestHex, type Digest } from '../core/digest.js';
import type { EventSink } from '../core/events.js';
import {
  Store,
  defaultStoreRoot,
  type FsckProblem,
  type FsckReport,
  type GcReport,
  derivedCacheDirs,
} from '../store/index.js';
import { checkBuildDb, openBuildDbs } from './build-db.js';
import { checkImageRoots } from './image-roots.js';

function eventsOption(events: EventSink | undefined): { events?: EventSink } {
  return events === undefined ? {} : { events };
}

/** What `store fsck --trust-of <project>` found among action-cache entries restored from a remote cache. */
export interface TrustRecheck {
  /** The airlock.yaml whose cache.remote trust was applied. */
  config: string;
  checked: number;
  /** Entries no trusted builder vouches for any more (dropped unless --no-repair). */
  failed: {
    key: Digest;
    result: Digest;
    repository: string;
    signer: string;
    reason: string;
    dropped: boolean;
  }[];
}

export interface StoreFsckReport extends FsckReport {
  trust?: TrustRecheck;
}

/**
 * `airlock store fsck`: verifies every blob and reference of the store; with
 * `trustOf`, also re-checks every action-cache entry that came from a remote
 * cache against that project's current `cache.remote.trust`, and drops those
 * that no longer pass (an entry is then rebuilt instead of restored).
 */
export async function runFsck(opts: {
  store?: string | undefined;
  repair?: boolean;
  /** A project directory or airlock.yaml whose remote-cache trust is re-applied. */
  trustOf?: string | undefined;
  events?: EventSink | undefined;
}): Promise<StoreFsckReport> {
  const repair = opts.repair ?? true;
  const store = await Store.open(opts.store ?? defaultStoreRoot(), {
    onDamage: repair ? 'repair' : 'report',
    ...eventsOption(opts.events),
  });
  try {
    // With no space left, fsck only reports: a repair would need to write.
    const canRepair = repair && !store.damage.some((d) => d.kind === 'store-full');
    const report: StoreFsckReport = await store.fsck({ repair: canRepair });
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
    if (opts.trustOf !== undefined) {
      report.trust = await recheckTrust(store, opts.trustOf, canRepair);
      if (report.trust.failed.length > 0) report.ok = false;
    }
    return report;
  } finally {
    store.close();
  }
}

async function recheckTrust(store: Store, project: string, repair: boolean): Promise<TrustRecheck> {
  const { loadConfig } = await import('../config/load.js');
  const { loadTrust, remoteCacheConfig } = await import('./build-remote.js');
  const config = await loadConfig(project);
  const remote = remoteCacheConfig(config, undefined);
  const trust =
    remote && (remote.trust === 'any' || remote.trust.length > 0)
      ? await loadTrust(remote, config.file)
      : undefined;
  const records = new BuildRecords(store.paths.buildDb);
  try {
    const out: TrustRecheck = { config: config.file, checked: 0, failed: [] };
    for (const o of records.origins()) {
      const entry = await store.getAction(o.key);
      if (entry?.result !== o.result) continue; // replaced by a local build since
      out.checked++;
      const verdict = trust
        ? trust.check(o.envelope, { actionKey: o.key, result: o.result })
        : {
            ok: false as const,
            reason: `${config.file} trusts no remote builder (cache.remote.trust)`,
          };
      if (verdict.ok) continue;
      if (repair) {
        await store.deleteAction(o.key);
        records.setOrigin(o.key, o.result, undefined);
      }
      out.failed.push({
        key: o.key,
        result: o.result,
        repository: o.repository,
        signer: o.signer,
        reason: verdict.reason,
        dropped: repair,
      });
    }
    return out;
  } finally {
    records.close();
  }
}

export interface StoreGcReport extends GcReport {
  /** Extracted output trees (airlock/v1/trees) no cached result names any more. */
  treesRemoved: number;
  /** Unpacked toolchain roots (airlock/v1/roots) whose image is no longer tagged. */
  rootsRemoved: number;
  /** Offline npm installs (airlock/v1/npm) that no remembered build uses. */
  npmTreesRemoved: number;
  /** Placed `files:` entries (airlock/v1/files) that no remembered build uses. */
  filesRemoved: number;
  /** Stat-cache entries of files that no longer exist. */
  statEntriesPruned: number;
  /** Builds forgotten from the history: older than the retention and not the latest of their target. */
  buildsForgotten: number;
}

/**
 * `airlock store gc`: forgets builds older than the retention (never the
 * latest of a target), deletes what no tag, young action-cache entry or
 * remembered build reaches, then the derived caches beside the blobs
 * (store/layout.ts `derivedCacheDirs`) that nothing live needs; all of them
 * are re-created from verified blobs on demand.
 */
export async function runGc(opts: {
  store?: string | undefined;
  retentionMs: number;
  dryRun: boolean;
  events?: EventSink | undefined;
}): Promise<StoreGcReport> {
  const store = await Store.open(opts.store ?? defaultStoreRoot(), eventsOption(opts.events));
  try {
    const { statCache: cache, records } = openBuildDbs(store, () => undefined);
    try {
      const cutoff = store.clock.now() - opts.retentionMs;
      const history = Number.isFinite(cutoff)
        ? records.pruneBuilds(cutoff, opts.dryRun)
        : { kept: [], removed: 0 };
      const report = await store.gc({
        retentionMs: opts.retentionMs,
        dryRun: opts.dryRun,
        roots: history.kept,
      });
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
      // Installed npm trees and placed files: live while a remembered build's action uses their tree.
      const depTrees = new Set<string>();
      for (const record of history.kept) {
        const r = await store.getJson<BuildRecord>(record).catch(() => undefined);
        for (const d of r?.action?.deps ?? []) depTrees.add(d.outputs);
      }
      const usedBy = async (dir: string, marker: string): Promise<Set<string>> => {
        const keep = new Set<string>();
        for (const entry of await readdir(dir).catch(() => [])) {
          const tree = await readFile(join(dir, entry, marker), 'utf8').then(
            (t) => (JSON.parse(t) as { tree?: unknown }).tree,
            () => undefined,
          );
          if (typeof tree === 'string' && depTrees.has(tree)) keep.add(entry);
        }
        return keep;
      };
      const live: Record<string, Set<string>> = {
        trees: liveTrees,
        roots: liveRoots,
        npm: await usedBy(store.paths.npm, 'install.json'),
        files: await usedBy(store.paths.files, 'placed.json'),
      };
      const removedIn: Record<string, number> = {};
      for (const { name, dir } of derivedCacheDirs(store.paths)) {
        const keep = live[name] ?? new Set<string>();
        let removed = 0;
        for (const entry of await readdir(dir).catch(() => [])) {
          if (!/^[0-9a-f]{64}$/.test(entry) || keep.has(entry)) continue;
          if (!opts.dryRun) await rm(join(dir, entry), { recursive: true, force: true });
          removed++;
        }
        removedIn[name] = removed;
      }
      let statEntriesPruned = 0;
      if (!opts.dryRun) {
        statEntriesPruned = cache.prune();
        records.clearCaches(); // recomputed on the next build
        const current = new Map(
          (await store.listActions())
            .filter((a) => !freed.has(a.result))
            .map((a) => [a.key as string, a.result]),
        );
        records.pruneOrigins((key) => current.get(key));
      }
      return {
        ...report,
        treesRemoved: removedIn['trees'] ?? 0,
        rootsRemoved: removedIn['roots'] ?? 0,
        npmTreesRemoved: removedIn['npm'] ?? 0,
        filesRemoved: removedIn['files'] ?? 0,
        statEntriesPruned,
        buildsForgotten: history.removed,
      };
    } finally {
      cache.close();
      records.close();
    }
  } finally {
    store.close();
  }
}
