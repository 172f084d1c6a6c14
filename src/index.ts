export { AirlockError, isAirlockError, parseDigest, sha256, treeDigest } from './core/index.js';
export type { AirlockEvent, Digest, EventSink, TreeEntry } from './core/index.js';
export { loadConfig, parseConfig, planOrder } from './config/index.js';
export type { ProjectConfig, TargetConfig } from './config/index.js';
export { MEDIA, parseDescriptor, parseManifest } from './oci/index.js';
export type { Descriptor, ImageIndex, ImageManifest, Manifest } from './oci/index.js';
export {
  attachments,
  auditCheckpoint,
  auditExport,
  auditLog,
  auditVerify,
  build,
  buildsOf,
  check,
  copy,
  deploy,
  deployStatus,
  emitKubernetes,
  init,
  keygen,
  lineage,
  ls,
  pin,
  fetchInputs,
  lock,
  pull,
  push,
  repro,
  rollback,
  sbom,
  ship,
  sign,
  storeFsck,
  storeGc,
  verify,
  why,
} from './pipeline/api.js';
export type {
  AuditCheckpointReport,
  AuditCheckpointRequest,
  AuditExportReport,
  AuditExportRequest,
  AuditLogReport,
  AuditLogRequest,
  AuditVerifyReport,
  AuditVerifyRequest,
  BuildRequest,
  BuildsOfReport,
  BuildsOfRequest,
  CheckReport,
  CheckRequest,
  DeployReport,
  DeployRequest,
  DeployStatusRequest,
  EmitKubernetesReport,
  EmitKubernetesRequest,
  FetchInputsReport,
  FetchInputsRequest,
  LockReport,
  LockRequest,
  InitReport,
  InitRequest,
  KeygenReport,
  KeygenRequest,
  LineageGraph,
  LineageRequest,
  PinReport,
  PinRequest,
  ReproRequest,
  RollbackRequest,
  SbomReport,
  SbomRequest,
  ShipReport,
  ShipRequest,
  SignReport,
  SignRequest,
  StoreFsckReport,
  StoreFsckRequest,
  StoreGcReport,
  StoreGcRequest,
  StatusReport,
  VerifyReport,
  VerifyRequest,
  WhyRequest,
} from './pipeline/api.js';
export type { BuildReport } from './pipeline/build.js';
export type { ReproReport } from './pipeline/repro.js';
export type { WhyReport } from './pipeline/why.js';
export type { AttachmentsReport, AttachmentsRequest } from './pipeline/registry-attachments.js';
export type { CopyReport, CopyRequest } from './pipeline/registry-copy.js';
export type { LsReport, LsRequest } from './pipeline/registry-ls.js';
export type { PullReport, PullRequest } from './pipeline/registry-pull.js';
export type { PushReport, PushRequest } from './pipeline/registry-push.js';
export type { AirlockErrorCode } from './pipeline/errors.js';
export type { BuildHistoryEntry } from './builder/records.js';
export { Store, defaultStoreRoot } from './store/index.js';
export type { DeployEvent, GateSample, RolloutRecord } from './deploy/index.js';
export type { EnvironmentConfig, GateConfig, RegionConfig } from './config/index.js';
export { startDashboard as dashboard } from './ui/index.js';
export type {
  Dashboard,
  DashboardActions,
  DashboardOptions as DashboardRequest,
  DashboardPanel,
  EnvironmentView,
  EnvironmentsSource,
} from './ui/index.js';
