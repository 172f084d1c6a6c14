export type BuildErrorCode =
  | 'GLOB_NO_MATCH'
  | 'OUTPUT_MISSING'
  | 'STEP_FAILED'
  | 'DEP_FAILED'
  | 'UNKNOWN_TARGET'
  | 'TOOL_NOT_FOUND'
  | 'INTERRUPTED';
