export { MERGED_USR_HOST, bwrapArgs, inputMountPoint, sandboxEnv } from './args.js';
export { findLibfaketime } from './faketime.js';
export { prepareSandboxHost, probeSandbox, readRootfsLayout } from './host.js';
export type { ProbeOptions, SandboxProbe } from './host.js';
export { IMAGE_ROOT_PROFILE, RESERVED_ENV, SANDBOX_PROFILE, sandboxProfile } from './profile.js';
export { runInSandbox, settleSandboxScratch } from './run.js';
export type {
  RootfsEntry,
  RootfsLayout,
  SandboxErrorCode,
  SandboxHost,
  SandboxResult,
  SandboxSpec,
} from './types.js';
