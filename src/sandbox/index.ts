export { MERGED_USR_HOST, bwrapArgs, inputMountPoint, sandboxEnv } from './args.js';
export { prepareSandboxHost, probeSandbox } from './host.js';
export type { ProbeOptions, SandboxProbe } from './host.js';
export { RESERVED_ENV, SANDBOX_PROFILE } from './profile.js';
export { runInSandbox } from './run.js';
export type { SandboxErrorCode, SandboxHost, SandboxResult, SandboxSpec } from './types.js';
