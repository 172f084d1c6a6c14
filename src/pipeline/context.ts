import { join } from 'node:path';
import { BuildRecords } from '../build/records.js';
import type { BuildContext } from '../build/executor.js';
import { loadConfig, type ProjectConfig } from '../config/index.js';
import type { EventSink } from '../core/events.js';
import { StatCache } from '../hash/stat-cache.js';
import { Store, defaultStoreRoot } from '../store/index.js';

/** Where the use-cases find the project and the store. */
export interface Workspace {
  /** The project directory or its airlock.yaml. */
  project: string;
  /** The store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string | undefined;
  events: EventSink;
}

/** An open project + store + caches; close() releases the databases. */
export interface OpenWorkspace {
  project: ProjectConfig;
  store: Store;
  statCache: StatCache;
  records: BuildRecords;
  close(): void;
}

/** Loads the config and opens the store and the build databases. */
export async function openWorkspace(ws: Workspace): Promise<OpenWorkspace> {
  const project = await loadConfig(ws.project);
  const store = await Store.open(ws.store ?? defaultStoreRoot(), { events: ws.events });
  const dbFile = join(store.root, 'airlock', 'v1', 'build.sqlite');
  const statCache = StatCache.open(dbFile);
  const records = new BuildRecords(dbFile);
  return {
    project,
    store,
    statCache,
    records,
    close() {
      statCache.close();
      records.close();
      store.close();
    },
  };
}

/** A build context over an open workspace. */
export function buildContext(
  open: OpenWorkspace,
  events: EventSink,
  opts: Partial<
    Pick<BuildContext, 'useCache' | 'materialize' | 'sourceRoot' | 'variant' | 'record'>
  > = {},
): BuildContext {
  return {
    project: open.project,
    store: open.store,
    statCache: open.statCache,
    records: open.records,
    events,
    useCache: opts.useCache ?? true,
    materialize: opts.materialize ?? true,
    ...(opts.sourceRoot ? { sourceRoot: opts.sourceRoot } : {}),
    ...(opts.variant ? { variant: opts.variant } : {}),
    ...(opts.record !== undefined ? { record: opts.record } : {}),
    memo: { tools: new Map() },
  };
}
