import type { ProjectConfig, TargetConfig } from './model.js';

/**
 * The SOURCE_DATE_EPOCH a target builds with: its own override, else the
 * project's, else undefined (the builder then derives one, e.g. from git).
 */
export function sourceDateEpochOf(config: ProjectConfig, target: TargetConfig): number | undefined {
  return target.sourceDateEpoch ?? config.sourceDateEpoch;
}
