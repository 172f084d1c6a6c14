import type { Digest } from '../core/digest.js';

/** One gate read at the end of a step: the value, the threshold and the verdict, kept with the rollout. */
export interface GateSample {
  gate: string;
  region: string;
  /** Index into the rollout's steps. */
  step: number;
  /** Canary weight (percent) while the sample was taken. */
  weight: number;
  /** The PromQL actually sent (placeholders filled in). */
  query: string;
  /** The value, or null when the query returned no data or NaN. */
  value: number | null;
  /** Requests the canary received in the window (the minimum-traffic guard), null when unknown. */
  requests: number | null;
  threshold: { max?: number; min?: number; minRequests: number };
  /**
   * `pass`; `fail` (past the threshold); `no-data` (empty, NaN, or fewer requests
   * than the minimum); `error` (the query failed or Prometheus was unreachable).
   */
  verdict: 'pass' | 'fail' | 'no-data' | 'error';
  /** Why, in words (the error message for `error`). */
  detail: string;
  /** ISO 8601 time of the read (injected clock). */
  at: string;
}

/**
 * What `airlock deploy`, `rollback` and `status` report while they work, for
 * the terminal, `--json` and the audit log. Every variant names the
 * environment and the rollout id it belongs to.
 */
export type DeployEvent =
  | {
      kind: 'deploy.verified';
      rollout: string;
      environment: string;
      artifact: Digest;
      pass: boolean;
      /** Each policy rule with its verdict (the failing ones name why). */
      rules: { rule: string; pass: boolean; reason: string }[];
    }
  | {
      kind: 'deploy.pushed';
      rollout: string;
      environment: string;
      region: string;
      repository: string;
      /** The digest the region's registry serves back for the pushed manifest. */
      served: Digest;
      blobs: { transferred: number; skipped: number };
    }
  | {
      kind: 'deploy.started';
      rollout: string;
      environment: string;
      region: string;
      digest: Digest;
      container: string;
      port: number;
    }
  | {
      kind: 'deploy.step';
      rollout: string;
      environment: string;
      region: string;
      step: number;
      steps: number;
      /** Percent of traffic on the new version, and on the stable one. */
      weights: { canary: number; stable: number };
    }
  | {
      kind: 'deploy.gate';
      rollout: string;
      environment: string;
      sample: GateSample;
    }
  | {
      kind: 'deploy.promoted';
      rollout: string;
      environment: string;
      region: string;
      digest: Digest;
      previous: Digest | null;
    }
  | {
      kind: 'deploy.paused';
      rollout: string;
      environment: string;
      region: string;
      reason: string;
    }
  | {
      kind: 'deploy.rollback';
      rollout: string;
      environment: string;
      region: string;
      /** Back to this digest (null: the region had no earlier version and now serves nothing new). */
      to: Digest | null;
      from: Digest;
      reason: string;
      /** Milliseconds from the decision to the router sending every request to `to`. */
      ms: number;
    }
  | {
      kind: 'deploy.done';
      rollout: string;
      environment: string;
      outcome: 'promoted' | 'rolled-back' | 'refused' | 'paused';
      reason?: string;
    }
  | {
      kind: 'deploy.drift';
      environment: string;
      region: string;
      /** What drifted: a container running another image, the registry's tag, or a region behind. */
      what: 'container' | 'registry' | 'router' | 'behind';
      expected: Digest | null;
      /** A digest, or a description (`unreachable: …`, an address). */
      actual: string | null;
      detail: string;
    };

/** Where the deploy use-cases send their events. */
export type DeployEventSink = (event: DeployEvent) => void;
