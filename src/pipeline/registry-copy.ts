import { AirlockError } from '../core/errors.js';
import { formatRegistryRef, pullArtifact, pushArtifact, resolveLocal } from '../registry/index.js';
import { Store } from '../store/index.js';
import type { RegistryUseCaseErrorCode } from './errors.js';
import {
  clientFor,
  openStore,
  parseEndpoint,
  remoteRef,
  type RegistryUseCaseOptions,
} from './registry-context.js';

export interface CopyRequest extends RegistryUseCaseOptions {
  /** `oci:<dir>[:tag]` or `host/repo[:tag][@digest]`. */
  from: string;
  to: string;
  attachments?: boolean;
}

export interface CopyReport {
  from: string;
  to: string;
  digest: string;
  blobs: { total: number; transferred: number; skipped: number };
  attachments: number;
}

/**
 * Copies an artifact between a registry and an OCI layout directory (either
 * way) or between two registries through the local store; every byte is
 * verified on the way in, and the digest is what is reported.
 */
export async function runCopy(req: CopyRequest): Promise<CopyReport> {
  const from = parseEndpoint(req.from);
  const to = parseEndpoint(req.to);
  const opts = {
    attachments: req.attachments !== false,
    ...(req.events ? { events: req.events } : {}),
  };
  if (from.kind === 'layout' && to.kind === 'layout') {
    throw new AirlockError<RegistryUseCaseErrorCode>(
      'COPY_UNSUPPORTED',
      'copy between two OCI layouts is not supported',
      {
        hint: 'Copy from or to a registry; use skopeo or cp for layout-to-layout.',
      },
    );
  }
  if (to.kind === 'registry' && to.ref.digest !== undefined) {
    throw new AirlockError<RegistryUseCaseErrorCode>(
      'DESTINATION_IS_DIGEST',
      `${req.to}: copy to a tag or a bare repository, not a digest`,
      {
        hint: 'Drop the @sha256:… part of the destination.',
      },
    );
  }
  // Source: a layout directory, or a registry pulled into a staging store.
  const staging =
    from.kind === 'layout'
      ? await Store.open(from.ref.path)
      : to.kind === 'layout'
        ? await Store.open(to.ref.path)
        : await openStore(req);
  try {
    let digest: string;
    let result;
    if (from.kind === 'registry') {
      const src = await clientFor(from.ref.registry, req);
      const localTag = to.kind === 'layout' ? (to.ref.tag ?? from.ref.tag) : undefined;
      result = await pullArtifact(
        src,
        from.ref.repository,
        remoteRef(from.ref, req.from),
        staging,
        localTag,
        opts,
      );
      digest = result.digest;
      if (to.kind === 'layout') {
        return {
          from: formatRegistryRef({ ...from.ref, digest: result.digest }),
          to: req.to,
          digest,
          blobs: result.blobs,
          attachments: result.attachments.length,
        };
      }
    }
    // Layout to layout was refused above, so the destination is a registry here.
    if (to.kind !== 'registry') throw new Error('unreachable: layout-to-layout copy');
    const source = from.kind === 'layout' ? (from.ref.digest ?? from.ref.tag) : digest!;
    if (source === undefined)
      throw new AirlockError<RegistryUseCaseErrorCode>(
        'REFERENCE_INCOMPLETE',
        `${req.from}: name a tag or digest in the layout`,
        {
          hint: 'Write oci:<dir>:<tag>.',
        },
      );
    const desc = await resolveLocal(staging, source, req.from);
    const dst = await clientFor(to.ref.registry, req);
    const pushed = await pushArtifact(
      dst,
      to.ref.repository,
      staging,
      desc,
      to.ref.tag ?? (from.kind === 'layout' ? from.ref.tag : undefined),
      opts,
    );
    return {
      from: req.from,
      to: formatRegistryRef({
        registry: to.ref.registry,
        repository: to.ref.repository,
        digest: pushed.digest,
      }),
      digest: pushed.digest,
      blobs: pushed.blobs,
      attachments: pushed.attachments.length,
    };
  } finally {
    staging.close();
  }
}
