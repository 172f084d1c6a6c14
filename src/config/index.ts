export { CONFIG_FILE, CONFIG_VERSION } from './model.js';
export { DEFAULT_LIMITS, parseDuration, parseSize } from './limits.js';
export type { TargetLimits } from './limits.js';
export type {
  ConfigErrorCode,
  ConfigProblem,
  DepConfig,
  FileConfig,
  NpmConfig,
  ImageConfig,
  PlanErrorCode,
  ProjectConfig,
  RemoteCacheConfig,
  TargetConfig,
} from './model.js';
export { analyzeConfig, parseConfig } from './parse.js';
export type { ConfigAnalysis } from './parse.js';
export { loadConfig } from './load.js';
export { sourceDateEpochOf } from './defaults.js';
export { planOrder } from './plan.js';
export { formatProblems } from './problems.js';
export { didYouMean, editDistance } from './suggest.js';
export {
  DEFAULT_CHECKPOINT_ENTRIES,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  defaultAuditConfig,
  parseIntervalMs,
} from './audit.js';
export type { AuditConfig } from './audit.js';
export { BUILTIN_GATES, REQUESTS_QUERY, parseDurationMs } from './environments.js';
export type { EnvironmentConfig, GateConfig, OnNoData, RegionConfig } from './environments.js';
