import type { BuildHistoryEntry } from '../builder/records.js';
import { parseDigest, type Digest } from '../core/digest.js';
import type { EventSink } from '../core/events.js';
import { Store, defaultStoreRoot } from '../store/index.js';
import { openBuildDbs } from './build-db.js';

export interface BuildsOfRequest {
  /** Store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string | undefined;
  /** An artifact (manifest) digest or an action-result digest. */
  digest: string;
  events: EventSink;
}

export interface BuildsOfReport {
  digest: Digest;
  /** Every recorded build in this store that produced it, newest first (empty: none). */
  builds: BuildHistoryEntry[];
}

/** Which builds produced `digest`: project, target, action key, source commit and when. */
export async function runBuildsOf(req: BuildsOfRequest): Promise<BuildsOfReport> {
  const digest = parseDigest(req.digest, 'artifact digest');
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events: req.events });
  try {
    const { statCache, records } = openBuildDbs(store, req.events);
    try {
      return { digest, builds: records.buildsOf(digest) };
    } finally {
      statCache.close();
      records.close();
    }
  } finally {
    store.close();
  }
}
