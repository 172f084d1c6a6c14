import type { CheckReport as Findings } from '../check/index.js';
import { noEvents, type EventSink } from '../core/events.js';
import type { FsckReport } from '../store/index.js';
import { runBuild, type BuildReport, type BuildRequest as BuildUseCase } from './build.js';
import {
  runBuildsOf,
  type BuildsOfReport,
  type BuildsOfRequest as BuildsOfUseCase,
} from './build-history.js';
import { runCheck } from './check.js';
import { runInit, type InitOptions, type InitResult } from './init.js';
import { runPin, registryResolver, type PinOptions, type PinResult } from './pin.js';
import { registryPlatformResolver, runLock, type LockReport } from './lock.js';
import { runFetch, type FetchResult } from './fetch.js';
import {
  runAttachments,
  type AttachmentsReport,
  type AttachmentsRequest,
} from './registry-attachments.js';
import { runCopy, type CopyReport, type CopyRequest } from './registry-copy.js';
import { runLs, type LsReport, type LsRequest } from './registry-ls.js';
import { runPull, type PullReport, type PullRequest } from './registry-pull.js';
import { runPush, type PushReport, type PushRequest } from './registry-push.js';
import { runRepro, type ReproReport, type ReproRequest as ReproUseCase } from './repro.js';
import { runFsck, runGc, type StoreGcReport } from './store.js';
import { runWhy, type WhyReport, type WhyRequest as WhyUseCase } from './why.js';
import { runKeygen, type KeygenReport, type KeygenRequest } from './keygen.js';
import { runSign, type SignReport, type SignRequest as SignUseCase } from './sign.js';
import { runVerify, type VerifyReport, type VerifyRequest as VerifyUseCase } from './verify.js';
import { runSbom, type SbomRequest as SbomUseCase } from './evidence.js';
import {
  runAuditCheckpoint,
  runAuditExport,
  runAuditLog,
  runAuditVerify,
  type AuditCheckpointRequest as AuditCheckpointUseCase,
  type AuditLogReport,
  type AuditLogRequest as AuditLogUseCase,
  type AuditVerifyReport,
  type AuditVerifyRequest as AuditVerifyUseCase,
  type CheckpointReport as AuditCheckpointReport,
} from './audit.js';
import { runLineage, type LineageRequest as LineageUseCase } from './lineage.js';
import type { LineageGraph } from '../audit/index.js';
import {
  runDeploy,
  runRollback,
  runStatus,
  type DeployOptions,
  type DeployReport,
  type DeployRequest,
  type RollbackRequest,
  type StatusReport,
} from './deploy.js';
import { runEmit, type EmitRequest } from './deploy-emit.js';
import { runShip, type ShipReport, type ShipRequest } from './ship.js';

/*
 * The library API: every use-case as `name(request: NameRequest):
 * Promise<NameReport>`, `events` always optional (the use-cases never print;
 * events are how a program watches progress). Thin wrappers over the
 * pipeline's use-cases; src/index.ts exports them.
 */

/** Makes `events` optional on a use-case request. */
type WithOptionalEvents<R extends { events: EventSink }> = Omit<R, 'events'> & {
  /** Receives progress and log events; nothing is reported when absent. */
  events?: EventSink | undefined;
};

export type BuildRequest = WithOptionalEvents<BuildUseCase>;
export type WhyRequest = WithOptionalEvents<WhyUseCase>;
export type ReproRequest = WithOptionalEvents<ReproUseCase>;
export type SignRequest = WithOptionalEvents<SignUseCase>;
export type VerifyRequest = WithOptionalEvents<VerifyUseCase>;
export type SbomRequest = WithOptionalEvents<SbomUseCase>;
export type SbomReport = Awaited<ReturnType<typeof runSbom>>;
export type { KeygenReport, KeygenRequest, SignReport, VerifyReport };
export type BuildsOfRequest = WithOptionalEvents<BuildsOfUseCase>;
export type AuditLogRequest = WithOptionalEvents<AuditLogUseCase>;
export type AuditVerifyRequest = WithOptionalEvents<AuditVerifyUseCase>;
export type AuditCheckpointRequest = WithOptionalEvents<AuditCheckpointUseCase>;
export interface AuditExportRequest {
  store?: string | undefined;
  /** The JSON Lines file to write; without it the report carries the lines. */
  output?: string | undefined;
  events?: EventSink | undefined;
}
export type AuditExportReport = Awaited<ReturnType<typeof runAuditExport>>;
export type LineageRequest = WithOptionalEvents<LineageUseCase>;
export type { AuditCheckpointReport, AuditLogReport, AuditVerifyReport, LineageGraph };
export type { BuildsOfReport };

export interface CheckRequest {
  /** Repository root; defaults to the current directory. */
  root?: string;
  /** The store whose evidence can award level 5 (default $AIRLOCK_HOME or ~/.cache/airlock). */
  store?: string | undefined;
  events?: EventSink;
}

/** The hermeticity findings of `check`, plus the root that was read. */
export interface CheckReport extends Findings {
  root: string;
}

export type PinRequest = PinOptions;
export type PinReport = PinResult;
export type InitRequest = InitOptions;
export type InitReport = InitResult;

export interface StoreFsckRequest {
  /** Store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string | undefined;
  /** Quarantine corrupt blobs and remove leftovers (default true). */
  repair?: boolean;
  events?: EventSink | undefined;
}
export type StoreFsckReport = FsckReport;

export interface StoreGcRequest {
  /** Store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string | undefined;
  /** Keep action-cache entries younger than this (default 14 days). */
  retentionMs?: number;
  /** Report what would be deleted, delete nothing. */
  dryRun?: boolean;
  events?: EventSink | undefined;
}
export type { StoreGcReport };

const DEFAULT_RETENTION_MS = 14 * 24 * 60 * 60 * 1000;

/** Builds the requested targets (all when `targets` is empty) in dependency order, from the cache where possible. */
export function build(req: BuildRequest): Promise<BuildReport> {
  return runBuild({ ...req, events: req.events ?? noEvents });
}

/** Explains why a target would (not) be a cache hit, down to each changed input file. */
export function why(req: WhyRequest): Promise<WhyReport> {
  return runWhy({ ...req, events: req.events ?? noEvents });
}

/** Which recorded builds in the store produced an artifact (or result) digest, newest first. */
export function buildsOf(req: BuildsOfRequest): Promise<BuildsOfReport> {
  return runBuildsOf({ ...req, events: req.events ?? noEvents });
}

/** Builds a target twice under varied conditions and compares the outputs bit for bit. */
export function repro(req: ReproRequest): Promise<ReproReport> {
  return runRepro({ ...req, events: req.events ?? noEvents });
}

/** Scores a repository's hermeticity (levels 1–4) from its files, with every finding and its fix. */
export function check(req: CheckRequest = {}): Promise<CheckReport> {
  return runCheck(req);
}

/** Rewrites mutable references (image tags, version ranges) to digests and locked versions. */
export function pin(req: PinRequest = {}): Promise<PinReport> {
  return runPin(req);
}

/** Writes a commented airlock.yaml for the project found at `root`, then checks it. */
export function init(req: InitRequest = {}): Promise<InitReport> {
  return runInit(req);
}

/** Pushes a local artifact and its attachments to a registry. */
export function push(req: PushRequest): Promise<PushReport> {
  return runPush(req);
}

/** Pulls an artifact and its attachments into the local store, every byte verified. */
export function pull(req: PullRequest): Promise<PullReport> {
  return runPull(req);
}

/** Copies an artifact between a registry and an OCI layout, or between two registries. */
export function copy(req: CopyRequest): Promise<CopyReport> {
  return runCopy(req);
}

/** Lists a repository's tags, each resolved to its manifest digest. */
export function ls(req: LsRequest): Promise<LsReport> {
  return runLs(req);
}

/** Lists the manifests attached to an artifact (referrers API or tag-schema fallback). */
export function attachments(req: AttachmentsRequest): Promise<AttachmentsReport> {
  return runAttachments(req);
}

/** Re-hashes every blob of the store and checks every reference. */
export function storeFsck(req: StoreFsckRequest = {}): Promise<StoreFsckReport> {
  return runFsck(req);
}

/** Deletes what no tag or young action-cache entry reaches, and the caches nothing live needs. */
export function storeGc(req: StoreGcRequest = {}): Promise<StoreGcReport> {
  return runGc({
    store: req.store,
    retentionMs: req.retentionMs ?? DEFAULT_RETENTION_MS,
    dryRun: req.dryRun === true,
    ...(req.events ? { events: req.events } : {}),
  });
}

/** Writes a cosign-format ECDSA P-256 key pair (`<prefix>.key` encrypted with `password`, `<prefix>.pub`). */
export function keygen(req: KeygenRequest): Promise<KeygenReport> {
  return runKeygen(req);
}

/** Signs the last build of each target: SLSA provenance, SBOMs and pending attestations, attached as Sigstore bundles. */
export function sign(req: SignRequest): Promise<SignReport> {
  return runSign({ ...req, events: req.events ?? noEvents });
}

/** Verifies an artifact in the store against a policy file; offline, fail-closed. */
export function verify(req: VerifyRequest): Promise<VerifyReport> {
  return runVerify({ ...req, events: req.events ?? noEvents });
}

/** The CycloneDX 1.6 or SPDX 2.3 SBOM of a target's last build. */
export function sbom(req: SbomRequest): Promise<SbomReport> {
  return runSbom({ ...req, events: req.events ?? noEvents });
}

/** What `lock` needs: the project, and whether only to compare. */
export interface LockRequest {
  /** The project directory or its airlock.yaml. */
  project: string;
  /** Only compare: LOCK_MISSING / LOCK_STALE listing every difference; nothing written or downloaded. */
  check?: boolean;
  /** `host:port` registries reached over plain http, to resolve image tags. */
  insecure?: string[];
  events?: EventSink;
}
export type { LockReport };

/** Pins every external input (npm packages of the package-locks, `files:`, images) by hash in airlock.lock. */
export async function lock(req: LockRequest): Promise<LockReport> {
  const { loadConfig } = await import('../config/load.js');
  const events = req.events ?? noEvents;
  return runLock({
    project: await loadConfig(req.project),
    check: req.check === true,
    resolver: registryResolver({ insecure: req.insecure ?? [], events }),
    platformOf: registryPlatformResolver({ insecure: req.insecure ?? [], events }),
    events,
  });
}

/** What `fetchInputs` needs. */
export interface FetchInputsRequest {
  /** The project directory or its airlock.yaml. */
  project: string;
  /** The store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string;
  insecure?: string[];
  events?: EventSink;
}
export type FetchInputsReport = FetchResult;

/** Downloads every input airlock.lock records into the store, each verified before it is stored (`airlock fetch`). */
export async function fetchInputs(req: FetchInputsRequest): Promise<FetchInputsReport> {
  const { loadConfig } = await import('../config/load.js');
  return runFetch({
    project: await loadConfig(req.project),
    ...(req.store ? { store: req.store } : {}),
    insecure: req.insecure ?? [],
    events: req.events ?? noEvents,
  });
}

/** The audit log's entries matching a filter (type, time, artifact), oldest first. */
export function auditLog(req: AuditLogRequest = {}): Promise<AuditLogReport> {
  return runAuditLog({ ...req, events: req.events ?? noEvents });
}

/** Recomputes the audit log's hash chain and checks it extends every checkpoint (stored or given). */
export function auditVerify(req: AuditVerifyRequest = {}): Promise<AuditVerifyReport> {
  return runAuditVerify({ ...req, events: req.events ?? noEvents });
}

/** Every audit entry as JSON Lines, written to `output` or returned. */
export function auditExport(req: AuditExportRequest = {}): Promise<AuditExportReport> {
  return runAuditExport({ ...req, events: req.events ?? noEvents });
}

/** Signs the audit log's head with a cosign-format key and keeps it as a referrer of the tag airlock/audit. */
export function auditCheckpoint(req: AuditCheckpointRequest): Promise<AuditCheckpointReport> {
  return runAuditCheckpoint({ ...req, events: req.events ?? noEvents });
}

/** Where an artifact or deployment came from, or (`uses`) every artifact and deployment containing a package. */
export function lineage(req: LineageRequest): Promise<LineageGraph> {
  return runLineage({ ...req, events: req.events ?? noEvents });
}

export type { DeployReport, DeployRequest, RollbackRequest, StatusReport };
export type DeployStatusRequest = DeployOptions;
export type EmitKubernetesRequest = Omit<EmitRequest, 'format'>;
export type EmitKubernetesReport = Awaited<ReturnType<typeof runEmit>>;

/**
 * Verifies an artifact against an environment's policy, pushes it by digest
 * to every region and rolls it out step by step behind metric gates.
 */
export function deploy(req: DeployRequest): Promise<DeployReport> {
  return runDeploy(req);
}

/** Sends an environment (or one region) back to its previous verified version. */
export function rollback(req: RollbackRequest): Promise<DeployReport> {
  return runRollback(req);
}

/** Per region: registry digest, running containers' digests, router weights, and drift. */
export function deployStatus(req: DeployStatusRequest): Promise<StatusReport> {
  return runStatus(req);
}

/** Writes the environment's rollout as Kubernetes + Argo Rollouts manifests (no cluster contacted). */
export function emitKubernetes(req: EmitKubernetesRequest): Promise<EmitKubernetesReport> {
  return runEmit({ ...req, format: 'kubernetes' });
}

export type { ShipReport, ShipRequest };

/** The whole pipeline for one target: lock check to status, stopping at the first failing stage. */
export function ship(req: ShipRequest): Promise<ShipReport> {
  return runShip(req);
}
