/** What the deploy stage rejects or fails on. */
export type DeployErrorCode =
  /** No `environments.<name>` in airlock.yaml. */
  | 'UNKNOWN_ENVIRONMENT'
  /** The artifact failed the environment's policy, or a region's registry served another digest. */
  | 'DEPLOY_REFUSED'
  /** The rollout ran and its gates (or a human) rolled it back. */
  | 'DEPLOY_ROLLED_BACK'
  /** The rollout waits for `airlock deploy --resume` or `--abort`. */
  | 'DEPLOY_PAUSED'
  /** podman failed (the message says which setting of this machine it needs). */
  | 'RUNTIME_FAILED'
  /** The new version did not answer its readiness URL in time. */
  | 'NOT_READY'
  /** HAProxy's runtime API refused a command or its socket is unreachable. */
  | 'ROUTER_FAILED'
  /** Nothing to roll back to, or no rollout in the state asked. */
  | 'NOTHING_TO_ROLL_BACK'
  /** Another deploy of the same environment holds its lock. */
  | 'DEPLOY_BUSY'
  /** `airlock status` found a region that does not run what was verified. */
  | 'DRIFT';
