export type { AuditErrorCode } from './errors.js';
export {
  AUDIT_EVENT_TYPES,
  auditEventSchemas,
  eventSubjects,
  isAuditEventType,
  parseEventData,
} from './events.js';
export type { AuditEvent, AuditEventData, AuditEventType } from './events.js';
export {
  AUDIT_FORMAT,
  CHECKPOINT_FORMAT,
  checkpointOf,
  parseCheckpoint,
  sealEntry,
  verifyChain,
} from './chain.js';
export type {
  AuditActor,
  AuditEntry,
  ChainHead,
  ChainProblem,
  ChainVerdict,
  Checkpoint,
  StoredEntry,
} from './chain.js';
export { buildEventProblems, pushEventProblems } from './build-event.js';
export { AUDIT_DB_MIGRATIONS, AuditLog } from './log.js';
export type { AuditAppend, AuditFilter, AuditRecord, CheckpointNote } from './log.js';
export {
  LineageBuilder,
  lineageDot,
  lineageText,
  lockedPurl,
  npmPurl,
  parsePackageQuery,
} from './lineage.js';
export type { LineageEdge, LineageGraph, LineageKind, LineageNode } from './lineage.js';
