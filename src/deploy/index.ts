export type { DeployErrorCode } from './errors.js';
export type { DeployEvent, DeployEventSink, GateSample } from './events.js';
export {
  ROLLOUT_FORMAT,
  abort,
  decideStep,
  evaluated,
  isFinished,
  judgeGate,
  newRollout,
  nextAction,
  pushed,
  resumed,
  rolledBack,
  shifted,
  started,
  stepsFor,
  verified,
} from './rollout.js';
export type { RolloutAction, RolloutPhase, RolloutRecord, RolloutTransition } from './rollout.js';
export { LABELS, PODMAN_RUN_FLAGS, PODMAN_ULIMITS, podmanError, podmanRuntime } from './podman.js';
export type { Runtime, RuntimeContainer } from './podman.js';
export { haproxyCommand, haproxyConfig, haproxyRouter } from './haproxy.js';
export type { Router, ServerState } from './haproxy.js';
export { prometheusSource, renderQuery, writeScrapeTargets } from './prometheus.js';
export type { MetricRead, MetricSource, ScrapeTarget } from './prometheus.js';
export { STATE_FORMAT, lockEnvironment, readRollout, readState, writeState } from './state.js';
export type { EnvironmentState, RegionState, SlotState } from './state.js';
export { kubernetesObjects } from './kubernetes.js';
export type { KubeObject } from './kubernetes.js';
