export { analyze, classifyPath, referencedScripts } from './analyze.js';
export type { AnalyzeInput } from './analyze.js';
export { unifiedDiff } from './diff.js';
export { checkDockerfile, dockerfileImages } from './dockerfile.js';
export { hasDigest, imageCap, parseImageRef } from './image.js';
export type { ImageRef } from './image.js';
export { INIT_READS, detectProject, renderAirlockYaml } from './init.js';
export type { ProjectFiles } from './init.js';
export type { Detection } from './init.js';
export {
  checkPackageJson,
  checkPackageLock,
  checkPnpmLock,
  checkYarnLock,
  classifySpec,
  lockedVersions,
} from './npm.js';
export type { LockedPackage, PackageJsonContext } from './npm.js';
export {
  imageSites,
  pinImages,
  pinnedDeps,
  pinPackageJson,
  pinPackageLockRoot,
  pinPnpmLockImporter,
} from './pin.js';
export type { PinChange, PinnedDep, PinSite } from './pin.js';
export { ALL_RULES, RULES } from './rules.js';
export type { RuleInfo } from './rules.js';
export { toSarif } from './sarif.js';
export { checkCSource, checkScript } from './scripts.js';
export {
  checkAirlockYaml,
  checkGithubWorkflow,
  checkGitlabCi,
  checkManifest,
} from './yaml-rules.js';
export type {
  CheckErrorCode,
  CheckReport,
  FileKind,
  Finding,
  Level,
  LevelGap,
  Replacement,
  Severity,
  SourceFile,
} from './types.js';
