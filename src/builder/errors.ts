export type BuildErrorCode =
  | 'GLOB_NO_MATCH'
  | 'OUTPUT_MISSING'
  | 'STEP_FAILED'
  | 'DEP_FAILED'
  | 'INTERRUPTED'
  | 'INPUTS_CHANGED'
  | 'TOOLCHAIN_IMAGE_UNAVAILABLE'
  /** image.base is set but the command has no way to pull it, or it is no image. */
  | 'IMAGE_BASE_UNAVAILABLE'
  | 'STEP_TIMEOUT'
  | 'STEP_LOG_LIMIT'
  | 'OUTPUT_TOO_LARGE'
  /** `why --against` names no recorded build of the target. */
  | 'BUILD_NOT_FOUND'
  /** `airlock log` for a target (or step) with no recorded run in this store. */
  | 'NO_STEP_LOGS';
