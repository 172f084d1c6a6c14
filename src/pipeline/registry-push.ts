import { AirlockError } from '../core/errors.js';
import {
  formatRegistryRef,
  parseRegistryRef,
  pushArtifact,
  resolveLocal,
} from '../registry/index.js';
import type { Descriptor } from '../oci/index.js';
import { clientFor, openStore, type RegistryUseCaseOptions } from './registry-context.js';
import type { RegistryUseCaseErrorCode } from './errors.js';
import { AUDIT_PUSH_TAG, AUDIT_TAG, recordAudit, type AuditEnv } from './audit.js';

export interface PushRequest extends RegistryUseCaseOptions {
  /** A tag or digest in the local store. */
  source: string;
  /** `host/repo[:tag]`; without a tag the manifest is pushed by digest only. */
  target: string;
  /** Push attachments too (default true). */
  attachments?: boolean;
  /** Clock, user and host of the push event recorded in the audit log. */
  audit?: AuditEnv | undefined;
}

export interface PushReport {
  /** `host/repo@sha256:…`: what to record. */
  reference: string;
  digest: string;
  tag?: string;
  blobs: { total: number; transferred: number; skipped: number };
  uploadedBytes: number;
  attachments: Descriptor[];
  /** The audit log's checkpoints, pushed as referrers of the `airlock-audit` tag beside the artifact. */
  auditCheckpoints?: { tag: string; digest: string; checkpoints: number };
}

/** Pushes a local artifact and its attachments; blobs the registry has are not sent again. */
export async function runPush(req: PushRequest): Promise<PushReport> {
  const target = parseRegistryRef(req.target);
  if (target.digest !== undefined) {
    throw new AirlockError<RegistryUseCaseErrorCode>(
      'DESTINATION_IS_DIGEST',
      `${req.target}: push to a tag or a bare repository, not a digest`,
      { hint: 'The digest is computed from the content; drop the @sha256:… part.' },
    );
  }
  const store = await openStore(req);
  try {
    const desc = await resolveLocal(store, req.source, 'local store');
    const client = await clientFor(target.registry, req);
    const result = await pushArtifact(client, target.repository, store, desc, target.tag, {
      attachments: req.attachments !== false,
      ...(req.events ? { events: req.events } : {}),
    });
    const report: PushReport = {
      reference: formatRegistryRef({
        registry: target.registry,
        repository: target.repository,
        digest: result.digest,
      }),
      digest: result.digest,
      blobs: result.blobs,
      uploadedBytes: client.stats.uploadedBytes,
      attachments: result.attachments,
    };
    if (target.tag !== undefined) report.tag = target.tag;
    // The audit log's signed checkpoints travel with the artifacts they describe.
    const anchor = await store.resolveTag(AUDIT_TAG);
    if (anchor) {
      const pushed = await pushArtifact(client, target.repository, store, anchor, AUDIT_PUSH_TAG, {
        attachments: true,
        ...(req.events ? { events: req.events } : {}),
      });
      report.auditCheckpoints = {
        tag: AUDIT_PUSH_TAG,
        digest: pushed.digest,
        checkpoints: pushed.attachments.length,
      };
    }
    recordAudit(
      store,
      {
        type: 'push',
        data: {
          registry: target.registry,
          repository: target.repository,
          ...(target.tag !== undefined ? { tag: target.tag } : {}),
          digest: result.digest,
          reference: report.reference,
          attachments: result.attachments.length,
        },
      },
      req.audit,
    );
    return report;
  } finally {
    store.close();
  }
}
