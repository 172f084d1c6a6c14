/** What the audit log and lineage reject. */
export type AuditErrorCode =
  /** An event whose data does not match its type's schema. */
  | 'AUDIT_EVENT_INVALID'
  /** A checkpoint file that is not a checkpoint, or not signed by a trusted key. */
  | 'AUDIT_CHECKPOINT_INVALID'
  /** `audit log --since` or `--type` that cannot be read. */
  | 'AUDIT_FILTER_INVALID'
  /** Lineage asked about a digest, package or environment the records do not know. */
  | 'LINEAGE_NOT_FOUND';
