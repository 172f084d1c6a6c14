import { join } from 'node:path';
import { noEvents, type EventSink } from '../core/events.js';
import {
  LOCK_FILE,
  diffLocks,
  fetchLocked,
  serializeLock,
  type DownloadOptions,
} from '../lock/index.js';
import { Store, defaultStoreRoot } from '../store/index.js';
import type { ProjectConfig } from '../config/index.js';
import { registryHooks, type RemoteBuildOptions } from './build-remote.js';
import { assertLockCurrent, readLock, readNpmrc, wantedLock, writeLockText } from './lock.js';

/** Options for `runFetch`. */
export interface FetchRequest extends Pick<RemoteBuildOptions, 'insecure' | 'registry'> {
  project: ProjectConfig;
  /** The store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string;
  /** Downloads at once (default 8). */
  concurrency?: number;
  download?: DownloadOptions;
  events?: EventSink;
}

/** What `fetch` did. */
export interface FetchResult {
  downloaded: { count: number; bytes: number };
  present: number;
  images: number;
  /** True when tarball sha256s were recorded into airlock.lock. */
  lockUpdated: boolean;
}

/**
 * `airlock fetch`: brings every input airlock.lock records into the store,
 * each verified before it is committed (SRI sha512 for npm tarballs, sha256
 * for files, manifest and layer digests for images); what is present costs
 * nothing. The lock must be current. Records each tarball's sha256 (its store
 * address) in airlock.lock.
 */
export async function runFetch(req: FetchRequest): Promise<FetchResult> {
  const events = req.events ?? noEvents;
  const project = req.project;
  const recorded = await readLock(project);
  assertLockCurrent(
    project,
    recorded,
    recorded === undefined
      ? []
      : diffLocks(recorded, await wantedLock(project, recorded, undefined)),
  );
  if (recorded === undefined)
    return { downloaded: { count: 0, bytes: 0 }, present: 0, images: 0, lockUpdated: false };
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events });
  try {
    const report = await fetchLocked(recorded, {
      sink: store,
      npmrc: await readNpmrc(project.root),
      ...(project.mirrors?.npm ? { npmMirror: project.mirrors.npm } : {}),
      ...(req.concurrency ? { concurrency: req.concurrency } : {}),
      ...req.download,
      events,
    });
    const before = serializeLock(recorded);
    const after = serializeLock(report.lock);
    if (before !== after) await writeLockText(join(project.root, LOCK_FILE), after);
    if (recorded.images.length > 0) {
      const { imageRoots } = await registryHooks(
        project,
        store,
        {
          insecure: req.insecure ?? [],
          noRemoteCache: true,
          ...(req.registry ? { registry: req.registry } : {}),
        },
        events,
      );
      for (const image of recorded.images) await imageRoots.resolve(image.ref);
    }
    return {
      downloaded: report.downloaded,
      present: report.present,
      images: recorded.images.length,
      lockUpdated: before !== after,
    };
  } finally {
    store.close();
  }
}
