import type { AuditConfig } from './audit.js';
import type { EnvironmentConfig } from './environments.js';
import type { TargetLimits } from './limits.js';

/** The file a project declares its targets in, at the project root. */
export const CONFIG_FILE = 'airlock.yaml';

/** The only `version:` this Airlock reads. */
export const CONFIG_VERSION = 1;

export type ConfigErrorCode = 'CONFIG_NOT_FOUND' | 'CONFIG_PARSE' | 'CONFIG_INVALID';

/** Thrown by `planOrder` when a requested target is not declared. */
export type PlanErrorCode = 'UNKNOWN_TARGET';

/** One thing wrong with an airlock.yaml, located at the offending key or value. */
export interface ConfigProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Where in the document, e.g. `targets.web.steps[0]`; '' for the whole file. */
  path: string;
  message: string;
  /** How to fix it, in one sentence. */
  fix: string;
}

/** A dependency on another target whose outputs appear under `path` ('.' = at their own paths). */
export interface DepConfig {
  target: string;
  path: string;
}

/** OCI image config for a target's artifact (the `config` of an OCI image). */
export interface ImageConfig {
  /**
   * The base image `<registry>/<repo>[:tag]@sha256:<hex>`: its layers come
   * first, its config is merged under the target's settings.
   */
  base?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  exposedPorts?: string[];
}

/** One target with every default filled in. */
export interface TargetConfig {
  name: string;
  sources: string[];
  exclude: string[];
  deps: DepConfig[];
  steps: string[];
  outputs: string[];
  env: Record<string, string>;
  /**
   * `host`: tools found on the host's PATH, pinned by binary digest; `image`: an
   * OCI image `<registry>/<repo>[:tag]@sha256:<hex>` whose filesystem is the
   * sandbox root instead of the host's. At most one of the two is non-empty.
   */
  toolchain: { host: string[]; image?: string };
  sourceDateEpoch?: number;
  image?: ImageConfig;
  /** Step timeout and size caps (see limits.ts); defaults when the file says nothing. */
  limits: TargetLimits;
  /** npm dependencies installed offline from airlock.lock before the steps run. */
  npm?: NpmConfig;
  /** `files:` entries placed read-only in the sandbox, at `path` (relative to the project root). */
  files?: { name: string; path: string }[];
  /** The steps that are tests: their results become a test-result attestation of the artifact. */
  tests?: TestStepConfig[];
}

/** A step marked as a test under `tests:`. */
export interface TestStepConfig {
  /** Index of the step in `steps`. */
  step: number;
  /** A JUnit XML report the step writes, relative to the project root (among the outputs). */
  junit?: string;
}

/** A target's npm dependencies. */
export interface NpmConfig {
  /** The package-lock.json, relative to the project root (posix separators). */
  lockfile: string;
  /** Packages (by name) whose install scripts run. */
  scripts: string[];
  /** Packages (by name) whose install scripts are knowingly not run; any other package with one fails the install. */
  skipScripts: string[];
  /** `airlock`: the tree written from the store (npm ci's tree); `npm`: npm ci run in the sandbox. */
  installer: 'airlock' | 'npm';
}

/** A file downloaded by `airlock fetch`, declared under `files:`. */
export interface FileConfig {
  name: string;
  url: string;
  /** `sha256:<hex>` when the config pins it; otherwise airlock.lock does. */
  sha256?: string;
  executable: boolean;
  /** Unpack it (a .tar, .tar.gz or .tgz) instead of presenting the file itself. */
  extract: boolean;
}

/** The remote action cache (a registry repository) and who is trusted to fill it. */
export interface RemoteCacheConfig {
  /** `host[:port]/repo`. */
  repository: string;
  /** `read` never pushes (developer machines); `readwrite` publishes signed entries (CI builders). */
  mode: 'read' | 'readwrite';
  /**
   * Builders whose signed entries are used: absolute paths of PEM public keys
   * (written relative to the project), or `any` to use unsigned entries too
   * (with a warning at every use). Empty: remote entries are never used.
   */
  trust: 'any' | string[];
  /** Absolute path of the cosign-format private key that signs published entries. */
  signingKey?: string;
  /** Publish step logs with entries (scrubbed of host paths); default false. */
  publishLogs: boolean;
}

/** A validated airlock.yaml. */
export interface ProjectConfig {
  /** Absolute path of the airlock.yaml. */
  file: string;
  /** Absolute path of the directory holding it: the project root. */
  root: string;
  name: string;
  sourceDateEpoch?: number;
  /** Shared caches. */
  cache?: { remote?: RemoteCacheConfig };
  /** Insertion order = file order. */
  targets: ReadonlyMap<string, TargetConfig>;
  /** Downloaded files by name (file order). */
  files?: ReadonlyMap<string, FileConfig>;
  /** Download mirrors: `npm` replaces the registry origin of every npm tarball URL. */
  mirrors?: { npm?: string };
  /** Deploy environments by name (file order). */
  environments?: ReadonlyMap<string, EnvironmentConfig>;
  /** The audit log's checkpoint key and schedule (defaults when airlock.yaml has no `audit:`). */
  audit?: AuditConfig;
}
