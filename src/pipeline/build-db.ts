import { existsSync } from 'node:fs';
import { BuildRecords } from '../builder/records.js';
import { errnoCode } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { StatCache } from '../hash/stat-cache.js';
import { checkSqliteFile } from '../store/sqlite.js';
import { isDamagedDb, type FsckProblem, type Store } from '../store/index.js';

/** The build databases of a store (stat cache and build records share one file). */
export interface BuildDbs {
  statCache: StatCache;
  records: BuildRecords;
}

// Everything build.sqlite holds is derived: what a damaged one costs.
const LOST =
  'lost: the stat cache (files are hashed again), the build history `airlock why` compares against, and cached SOURCE_DATE_EPOCH values and parsed configs';

/** The path of build.sqlite in `store` (store/layout.ts). */
function buildDbFile(store: Store): string {
  return store.paths.buildDb;
}

/** Opens the build records first: their migrations bring the whole file's schema up to date. */
function openBoth(file: string): BuildDbs {
  const records = new BuildRecords(file);
  try {
    return { statCache: StatCache.open(file), records };
  } catch (err) {
    records.close();
    throw err;
  }
}

/**
 * Opens build.sqlite; a file SQLite cannot read is moved to quarantine/
 * (kept, and named in a warning) and recreated, since it holds only caches.
 */
export function openBuildDbs(store: Store, events: EventSink): BuildDbs {
  const file = buildDbFile(store);
  try {
    return openBoth(file);
  } catch (err) {
    if (!isDamagedDb(err)) throw err;
    const kept = store.quarantineFile(file);
    events({
      type: 'log',
      level: 'warn',
      message: `${file} was not a readable SQLite database (${errnoCode(err) ?? ''}); moved to ${kept} and recreated; ${LOST}`,
    });
    return openBoth(file);
  }
}

/** fsck of build.sqlite: SQLite's quick_check; with `repair`, a damaged file is set aside and recreated. */
export function checkBuildDb(store: Store, repair: boolean): FsckProblem | undefined {
  const file = buildDbFile(store);
  if (!existsSync(file)) return undefined;
  try {
    checkSqliteFile(file);
    return undefined;
  } catch (err) {
    if (/^SQLITE_(IOERR|FULL)/.test(errnoCode(err) ?? '')) {
      // SQLite needs room for its -shm file even to read; a full disk is reported, not a crash.
      return {
        kind: 'store-full',
        severity: 'error',
        message: `${file} cannot be checked (${errnoCode(err) ?? ''}): the file system may be full; free space and run fsck again`,
        path: file,
        repaired: false,
      };
    }
    if (!isDamagedDb(err)) throw err;
    const why = `${file} is not a sound SQLite database (${errnoCode(err) ?? ''})`;
    if (!repair) {
      return {
        kind: 'build-db-damaged',
        severity: 'error',
        message: why,
        path: file,
        repaired: false,
      };
    }
    const kept = store.quarantineFile(file);
    const fresh = openBoth(file);
    fresh.records.close();
    fresh.statCache.close();
    return {
      kind: 'build-db-damaged',
      severity: 'error',
      message: `${why}; moved to ${kept} and recreated; ${LOST}`,
      path: file,
      repaired: true,
    };
  }
}
