import type { ArchiveErrorCode } from '../archive/index.js';
import type { AttestErrorCode } from '../attest/index.js';
import type { AuditErrorCode } from '../audit/index.js';
import type { PolicyErrorCode } from '../policy/index.js';
import type { BuildErrorCode } from '../builder/errors.js';
import type { ToolchainErrorCode } from '../builder/toolchain.js';
import type { CheckErrorCode } from '../check/index.js';
import type { DeployErrorCode } from '../deploy/index.js';
import type { ConfigErrorCode, PlanErrorCode } from '../config/index.js';
import type { ContentErrorCode, DigestErrorCode, TreePathErrorCode } from '../core/index.js';
import type { WalkErrorCode } from '../hash/index.js';
import type { LockErrorCode } from '../lock/index.js';
import type { OciErrorCode } from '../oci/index.js';
import type { ImageRootErrorCode, RegistryErrorCode } from '../registry/index.js';
import type { SandboxErrorCode } from '../sandbox/index.js';
import type { BundleErrorCode, SignErrorCode } from '../sign/index.js';
import type { StoreErrorCode } from '../store/index.js';
import type { BuildRemoteErrorCode } from './build-remote.js';

/** What the registry use-cases (push, pull, copy, attachments) reject in their requests. */
export type RegistryUseCaseErrorCode =
  /** A push or copy destination names a digest (the digest comes from the content). */
  | 'DESTINATION_IS_DIGEST'
  /** A reference names neither a tag nor a digest where one is needed. */
  | 'REFERENCE_INCOMPLETE'
  /** A copy between two OCI layout directories. */
  | 'COPY_UNSUPPORTED';

/** What the evidence use-cases (sign, verify, sbom) reject. */
export type EvidenceErrorCode =
  /** The target has no artifact, build record or cached result to describe. */
  | 'NOT_BUILT'
  /** Signing was asked for without a readable key. */
  | 'NO_SIGNING_KEY'
  /** An attestation attached to one artifact names another. */
  | 'ATTACHMENT_MISMATCH'
  /** sign-blob would overwrite an existing bundle file. */
  | 'BUNDLE_EXISTS'
  /** A test step's JUnit report is not among the target's outputs. */
  | 'TEST_REPORT_MISSING'
  /** Keyless (Fulcio certificate + Rekor entry) signing was asked for: Airlock signs with keys only. */
  | 'KEYLESS_UNSUPPORTED';

/** What `airlock ui` (the dashboard server) reports. */
export type DashboardErrorCode =
  /** The dashboard cannot listen on the asked host and port. */
  'UI_LISTEN_FAILED';

/** What the build daemon (`airlock daemon`, src/daemon/) reports. */
export type DaemonErrorCode =
  /** Another daemon already serves this store, project and environment. */
  | 'DAEMON_RUNNING'
  /** The socket directory is not a 0700 directory of this user. */
  | 'DAEMON_UNSAFE_DIR';

/**
 * Every `code` an `AirlockError` thrown by the library can carry: each module
 * declares its own codes once, and no code has two meanings. (The CLI adds
 * `USAGE` for malformed command lines, and `BUG` in its JSON output for an
 * unexpected error.)
 */
export type AirlockErrorCode =
  | ArchiveErrorCode
  | AttestErrorCode
  | AuditErrorCode
  | BundleErrorCode
  | EvidenceErrorCode
  | PolicyErrorCode
  | BuildErrorCode
  | BuildRemoteErrorCode
  | CheckErrorCode
  | ConfigErrorCode
  | DeployErrorCode
  | ContentErrorCode
  | DaemonErrorCode
  | DashboardErrorCode
  | DigestErrorCode
  | ImageRootErrorCode
  | LockErrorCode
  | OciErrorCode
  | PlanErrorCode
  | RegistryErrorCode
  | RegistryUseCaseErrorCode
  | SandboxErrorCode
  | SignErrorCode
  | StoreErrorCode
  | ToolchainErrorCode
  | TreePathErrorCode
  | WalkErrorCode;
