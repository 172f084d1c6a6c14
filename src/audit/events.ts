import { createRequire } from 'node:module';
import type * as Zod from 'zod';
import { AUDIT_EVENT_TYPES, isAuditEventType, type AuditEventType } from './types.js';

export { AUDIT_EVENT_TYPES, isAuditEventType, type AuditEventType };

/*
 * The events of the audit log: one `type` and its `data` per thing Airlock
 * did. The schemas are the contract of the log (a recorded event never
 * changes meaning): add a type or an optional field, never change one.
 *
 * Key material never appears in an event: signatures are named by key id
 * (sha256 of the public key's SPKI DER) only.
 */

/** The schema of each event type's data, built over the given zod. */
function defineSchemas(z: typeof Zod.z) {
  const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
  const ms = z.number().int().nonnegative();

  const toolchainEntry = z.object({ name: z.string(), digest: z.string() }).strict();

  /** A target built or restored from the action cache. */
  const buildEvent = z
    .object({
      project: z.string(),
      target: z.string(),
      /** The git remote (origin) of the project, when there is one. */
      repository: z.string().optional(),
      /** git HEAD when the build ran; absent outside git. */
      sourceCommit: z.string().optional(),
      /** True when the work tree had uncommitted changes. */
      dirty: z.boolean().optional(),
      actionKey: digest,
      /** `hit`: restored from the local or remote action cache; `miss`: the steps ran. */
      cache: z.enum(['hit', 'miss']),
      /** Set when a hit came from a remote cache: repository and signer key id. */
      remote: z.object({ repository: z.string(), signer: z.string() }).strict().optional(),
      toolchain: z.array(toolchainEntry),
      sourceDateEpoch: z.number().int(),
      /** The manifest digest of the artifact tagged. */
      artifact: digest,
      tag: z.string(),
      /** The BuildRecord blob (action and inputs): lineage reads lock entries and deps from it. */
      record: digest.optional(),
      /** The output tree digest. */
      outputTree: digest,
      startedAt: ms,
      finishedAt: ms,
    })
    .strict();

  /** `airlock repro`: whether two builds under varied conditions gave the same outputs. */
  const reproEvent = z
    .object({
      target: z.string(),
      actionKey: digest,
      reproducible: z.boolean(),
      /** The artifact the reproducibility statement was attached to, when there was one. */
      artifact: digest.optional(),
      differences: z.number().int().nonnegative(),
    })
    .strict();

  /** An SBOM, provenance or other statement written (attached to an artifact, or printed). */
  const attestationEvent = z
    .object({
      artifact: digest,
      predicateType: z.string(),
      /** The attachment manifest in the store; absent when it was only printed (`airlock sbom`). */
      attachment: digest.optional(),
      target: z.string().optional(),
    })
    .strict();

  /** A signature made: the key by id, never the key itself. */
  const signatureEvent = z
    .object({
      artifact: digest,
      keyId: digest,
      predicateType: z.string(),
      /** The bundle's attachment manifest. */
      attachment: digest,
      target: z.string().optional(),
    })
    .strict();

  /** An artifact (and its attachments) pushed to a registry. */
  const pushEvent = z
    .object({
      registry: z.string(),
      repository: z.string(),
      tag: z.string().optional(),
      digest,
      reference: z.string(),
      attachments: z.number().int().nonnegative(),
    })
    .strict();

  /** `airlock verify`: the policy, each rule's result and the verdict. */
  const verifyEvent = z
    .object({
      artifact: digest,
      policyDigest: digest,
      pass: z.boolean(),
      rules: z.array(
        z.object({ rule: z.string(), pass: z.boolean(), reason: z.string() }).strict(),
      ),
    })
    .strict();

  const place = {
    environment: z.string(),
    region: z.string().optional(),
  };

  /** One step of a progressive rollout: weights, every gate with value and threshold, the decision. */
  const deployStepEvent = z
    .object({
      ...place,
      artifact: digest,
      /** The digest it replaces, when one was running. */
      previous: digest.optional(),
      step: z.number().int().nonnegative(),
      /** Traffic weight per digest, in percent. */
      weights: z.record(z.string(), z.number()),
      gates: z.array(
        z
          .object({
            name: z.string(),
            value: z.number().nullable(),
            threshold: z.number(),
            /** How value compares to threshold to pass (e.g. `<=`). */
            op: z.string().optional(),
            pass: z.boolean(),
          })
          .strict(),
      ),
      decision: z.enum(['continue', 'promote', 'pause', 'rollback']),
    })
    .strict();

  /** A digest promoted to full traffic in an environment/region. */
  const promotionEvent = z
    .object({ ...place, artifact: digest, previous: digest.optional() })
    .strict();

  /** A rollback: automatic (a gate) or by whom, and why. */
  const rollbackEvent = z
    .object({
      ...place,
      /** The digest taken out. */
      from: digest,
      /** The digest running again. */
      to: digest,
      automatic: z.boolean(),
      /** Who asked for it (a user, `dashboard:<user>`), when not automatic. */
      by: z.string().optional(),
      reason: z.string(),
    })
    .strict();

  /** What `status` found running differs from what was deployed. */
  const driftEvent = z
    .object({
      ...place,
      expected: digest,
      /** The digests found running (empty: nothing runs). */
      running: z.array(digest),
    })
    .strict();

  return {
    build: buildEvent,
    repro: reproEvent,
    attestation: attestationEvent,
    signature: signatureEvent,
    push: pushEvent,
    verify: verifyEvent,
    'deploy.step': deployStepEvent,
    'deploy.promotion': promotionEvent,
    'deploy.rollback': rollbackEvent,
    'deploy.drift': driftEvent,
  } as const satisfies Record<AuditEventType, Zod.ZodType>;
}

type EventSchemas = ReturnType<typeof defineSchemas>;
let schemas: EventSchemas | undefined;

/**
 * Every event type and the schema of its data. zod loads (synchronously) on
 * the first call, not when this module is imported: a build records its
 * events through the zod-free check of build-event.ts and never pays for it.
 */
export function auditEventSchemas(): EventSchemas {
  schemas ??= defineSchemas((createRequire(import.meta.url)('zod') as typeof Zod).z);
  return schemas;
}

/** `data` parsed by the schema of `type` (zod loads on the first call), or what is wrong with it. */
export function parseEventData(
  type: string,
  data: unknown,
): { data: unknown } | { problems: string[] } {
  const schema = (auditEventSchemas() as Partial<Record<string, Zod.ZodType>>)[type];
  if (!schema) return { problems: ['unknown type'] };
  const parsed = schema.safeParse(data);
  return parsed.success
    ? { data: parsed.data }
    : { problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
}

/** The data of each event type. */
export type AuditEventData = {
  [T in AuditEventType]: Zod.infer<EventSchemas[T]>;
};

/** An event before it enters the log: its type and data. */
export type AuditEvent = {
  [T in AuditEventType]: { type: T; data: AuditEventData[T] };
}[AuditEventType];

/** True when `type` names an event type. */

/**
 * The artifact digests an event is about (the build's artifact, the pushed
 * digest, the deployed digests…): what `audit log --artifact` and lineage look up.
 */
export function eventSubjects(event: AuditEvent): string[] {
  switch (event.type) {
    case 'build':
      return [event.data.artifact, event.data.outputTree];
    case 'push':
      return [event.data.digest];
    case 'deploy.rollback':
      return [event.data.from, event.data.to];
    case 'deploy.drift':
      return [event.data.expected, ...event.data.running];
    case 'deploy.step':
    case 'deploy.promotion':
      return [event.data.artifact, ...(event.data.previous ? [event.data.previous] : [])];
    default:
      return event.data.artifact ? [event.data.artifact] : [];
  }
}
