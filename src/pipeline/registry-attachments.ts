import { formatRegistryRef, parseRegistryRef } from '../registry/index.js';
import type { Descriptor } from '../oci/index.js';
import { clientFor, remoteRef, type RegistryUseCaseOptions } from './registry-context.js';

export interface AttachmentsRequest extends RegistryUseCaseOptions {
  /** `host/repo:tag` or `host/repo@sha256:…` */
  ref: string;
  artifactType?: string;
}

export interface AttachmentsReport {
  /** The subject, resolved to its digest. */
  subject: string;
  digest: string;
  /** `api` (referrers API) or `tag` (sha256-<hex> fallback index). */
  via: 'api' | 'tag';
  attachments: Descriptor[];
}

/** Resolves a reference to its digest and lists the manifests attached to it. */
export async function runAttachments(req: AttachmentsRequest): Promise<AttachmentsReport> {
  const ref = parseRegistryRef(req.ref);
  const client = await clientFor(ref.registry, req);
  const got = await client.getManifest(ref.repository, remoteRef(ref, req.ref));
  const digest = got.descriptor.digest;
  const { via, descriptors } = await client.referrers(
    ref.repository,
    digest,
    req.artifactType === undefined ? {} : { artifactType: req.artifactType },
  );
  return {
    subject: formatRegistryRef({ registry: ref.registry, repository: ref.repository, digest }),
    digest,
    via,
    attachments: descriptors,
  };
}
