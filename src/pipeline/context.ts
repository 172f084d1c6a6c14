import { join } from 'node:path';
import type { BuildRecords } from '../builder/records.js';
import type { BuildContext } from '../builder/executor.js';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  CONFIG_FILE,
  CONFIG_VERSION,
  type FileConfig,
  type ProjectConfig,
  type TargetConfig,
} from '../config/model.js';
import { sha256 } from '../core/digest.js';
import { AIRLOCK_VERSION } from '../core/version.js';
import type { EventSink } from '../core/events.js';
import type { StatCache } from '../hash/stat-cache.js';
import type { HostEnv } from '../builder/toolchain.js';
import type { AuditEnv } from './audit.js';
import { openBuildDbs, type BuildDbs } from './build-db.js';
import { Store, defaultStoreRoot } from '../store/index.js';

/** Where the use-cases find the project and the store. */
export interface Workspace {
  /** The project directory or its airlock.yaml. */
  project: string;
  /** The store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string | undefined;
  events: EventSink;
  /** Aborted on Ctrl-C: running steps are killed and no new target starts. */
  signal?: AbortSignal | undefined;
  /** Clock, user and host of the audit events this use-case records (default: the store clock, the OS). */
  audit?: AuditEnv | undefined;
  /**
   * The environment the use-case reads (`PATH` and `HOME` for host tools,
   * `AIRLOCK_HOME` for the default store); default: the process's. Two
   * use-cases in one process can each have their own.
   */
  env?: HostEnv | undefined;
}

/** An open project + store + caches; close() releases the databases. */
export interface OpenWorkspace {
  project: ProjectConfig;
  store: Store;
  statCache: StatCache;
  records: BuildRecords;
  /** The run's environment (`Workspace.env`, or the process's). */
  env: HostEnv;
  close(): void;
}

/** Loads the config and opens the store and the build databases. */
export async function openWorkspace(ws: Workspace): Promise<OpenWorkspace> {
  const env = ws.env ?? process.env;
  const store = await Store.open(ws.store ?? defaultStoreRoot(env), { events: ws.events });
  let dbs: BuildDbs;
  try {
    dbs = openBuildDbs(store, ws.events);
  } catch (err) {
    store.close();
    throw err;
  }
  const { statCache, records } = dbs;
  let project: ProjectConfig;
  try {
    project = await loadConfigCached(ws.project, records);
  } catch (err) {
    statCache.close();
    records.close();
    store.close();
    throw err;
  }
  return {
    project,
    store,
    statCache,
    records,
    env,
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
    Pick<
      BuildContext,
      | 'useCache'
      | 'materialize'
      | 'sourceRoot'
      | 'variant'
      | 'record'
      | 'signal'
      | 'runner'
      | 'packer'
      | 'afterBuild'
      | 'fsHint'
    >
  > = {},
): BuildContext {
  return {
    project: open.project,
    store: open.store,
    statCache: open.statCache,
    records: open.records,
    env: open.env,
    events,
    useCache: opts.useCache ?? true,
    materialize: opts.materialize ?? true,
    ...(opts.sourceRoot ? { sourceRoot: opts.sourceRoot } : {}),
    ...(opts.variant ? { variant: opts.variant } : {}),
    ...(opts.record !== undefined ? { record: opts.record } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.runner ? { runner: opts.runner } : {}),
    ...(opts.packer ? { packer: opts.packer } : {}),
    ...(opts.afterBuild ? { afterBuild: opts.afterBuild } : {}),
    ...(opts.fsHint ? { fsHint: opts.fsHint } : {}),
    memo: { tools: new Map() },
  };
}

/**
 * The key of a parsed config in the config cache: its path, its bytes, the
 * config format and Airlock's own version (a release may read the same YAML
 * into a different model, so no release reuses another's entries).
 */
export function configCacheKey(file: string, text: Uint8Array, version = AIRLOCK_VERSION): string {
  return sha256(
    Buffer.concat([
      Buffer.from(`${file}\0${CONFIG_VERSION}\0${version}\0model-lock-2-tests-1\0`),
      text,
    ]),
  );
}

/**
 * The validated config of a project, from the config cache when the file's
 * bytes are unchanged; otherwise parsed and validated (loading the YAML
 * parser and schema only then) and remembered.
 */
async function loadConfigCached(dirOrFile: string, records: BuildRecords): Promise<ProjectConfig> {
  const given = resolve(dirOrFile);
  const file = await stat(given).then(
    (s) => (s.isDirectory() ? join(given, CONFIG_FILE) : given),
    () => given,
  );
  const text = await readFile(file).catch(() => undefined);
  const key = text ? configCacheKey(file, text) : undefined;
  const hit = key ? records.config(key) : undefined;
  if (hit) {
    const cached = JSON.parse(hit) as Omit<ProjectConfig, 'targets' | 'files'> & {
      targets: TargetConfig[];
      files?: FileConfig[];
    };
    return {
      ...cached,
      targets: new Map(cached.targets.map((t) => [t.name, t])),
      files: new Map((cached.files ?? []).map((f) => [f.name, f])),
    };
  }
  const { loadConfig } = await import('../config/load.js');
  const project = await loadConfig(dirOrFile, { checkSources: true });
  if (key)
    records.setConfig(
      key,
      JSON.stringify({
        ...project,
        targets: [...project.targets.values()],
        files: [...(project.files?.values() ?? [])],
      }),
    );
  return project;
}
