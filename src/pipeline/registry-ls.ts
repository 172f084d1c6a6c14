import { sortByBytes } from '../core/compare.js';
import { mapLimit, parseRegistryRef } from '../registry/index.js';
import { clientFor, type RegistryUseCaseOptions } from './registry-context.js';

export interface LsRequest extends RegistryUseCaseOptions {
  /** `host/repo` */
  repository: string;
  /** Include `sha256-<hex>` referrers fallback tags (default false). */
  all?: boolean;
}

export interface LsReport {
  repository: string;
  tags: { tag: string; digest: string; mediaType: string }[];
  /** Referrers fallback tags left out of `tags`. */
  hidden: number;
}

/** Lists a repository's tags, each resolved to its manifest digest. */
export async function runLs(req: LsRequest): Promise<LsReport> {
  const ref = parseRegistryRef(req.repository);
  const client = await clientFor(ref.registry, req);
  const all = await client.listTags(ref.repository);
  const fallback = /^sha256-[0-9a-f]{64}$/;
  const shown = req.all === true ? all : all.filter((t) => !fallback.test(t));
  const tags = await mapLimit(shown, 8, async (tag) => {
    const d = await client.headManifest(ref.repository, tag);
    return { tag, digest: d?.digest ?? '', mediaType: d?.mediaType ?? '' };
  });
  return {
    repository: `${ref.registry}/${ref.repository}`,
    tags: sortByBytes(
      tags.filter((t) => t.digest !== ''),
      (t) => t.tag,
    ),
    hidden: all.length - shown.length,
  };
}
