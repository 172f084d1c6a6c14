/**
 * Every audit event type. Kept apart from the schemas (events.ts, which
 * load zod) so that the CLI and the build path can name them cheaply.
 */
export const AUDIT_EVENT_TYPES = [
  'build',
  'repro',
  'attestation',
  'signature',
  'push',
  'verify',
  'deploy.step',
  'deploy.promotion',
  'deploy.rollback',
  'deploy.drift',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Whether `type` names an audit event type. */
export function isAuditEventType(type: string): type is AuditEventType {
  return (AUDIT_EVENT_TYPES as readonly string[]).includes(type);
}
