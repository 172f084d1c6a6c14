import { formatRegistryRef, parseRegistryRef, pullArtifact } from '../registry/index.js';
import type { Descriptor } from '../oci/index.js';
import {
  clientFor,
  openStore,
  remoteRef,
  type RegistryUseCaseOptions,
} from './registry-context.js';

export interface PullRequest extends RegistryUseCaseOptions {
  /** `host/repo:tag` or `host/repo@sha256:…`. */
  ref: string;
  /** Local tag to set; default `host/repo:tag` when the reference has a tag. */
  tag?: string;
  attachments?: boolean;
}

export interface PullReport {
  reference: string;
  digest: string;
  localTag?: string;
  blobs: { total: number; transferred: number; skipped: number };
  downloadedBytes: number;
  attachments: Descriptor[];
}

/** Pulls an artifact and its attachments into the local store, every byte verified. */
export async function runPull(req: PullRequest): Promise<PullReport> {
  const ref = parseRegistryRef(req.ref);
  const store = await openStore(req);
  try {
    const client = await clientFor(ref.registry, req);
    const localTag =
      req.tag ??
      (ref.tag !== undefined && ref.digest === undefined
        ? `${ref.registry}/${ref.repository}:${ref.tag}`
        : undefined);
    const result = await pullArtifact(
      client,
      ref.repository,
      remoteRef(ref, req.ref),
      store,
      localTag,
      {
        attachments: req.attachments !== false,
        ...(req.events ? { events: req.events } : {}),
      },
    );
    const report: PullReport = {
      reference: formatRegistryRef({
        registry: ref.registry,
        repository: ref.repository,
        digest: result.digest,
      }),
      digest: result.digest,
      blobs: result.blobs,
      downloadedBytes: client.stats.downloadedBytes,
      attachments: result.attachments,
    };
    if (localTag !== undefined) report.localTag = localTag;
    return report;
  } finally {
    store.close();
  }
}
