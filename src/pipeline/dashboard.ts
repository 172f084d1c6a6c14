import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  IN_TOTO_PAYLOAD_TYPE,
  PREDICATE,
  parseStatement,
  type Statement,
} from '../attest/index.js';
import type { ActionResult } from '../builder/action.js';
import type { BuildHistoryEntry } from '../builder/records.js';
import { tagFor } from '../builder/context.js';
import { CONFIG_FILE, loadConfig } from '../config/index.js';
import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import type { EventSink } from '../core/events.js';
import { MEDIA, parseManifest, referrersTag } from '../oci/index.js';
import { localReferrers, resolveLocal } from '../registry/index.js';
import { parseBundle } from '../sign/index.js';
import { Store, defaultStoreRoot, storePaths } from '../store/index.js';
import {
  PREDICATE_TYPE_ANNOTATION,
  isBundleArtifactType,
  isStatementArtifactType,
} from './attestations.js';
import { openAuditLog } from './audit.js';
import { openBuildDbs } from './build-db.js';
import { runVerify, type VerifyReport } from './verify.js';
import { runWhy, type WhyReport } from './why.js';

/*
 * The dashboard's read model: what `airlock ui` shows, read from the store
 * and the project with the same use-cases the CLI runs (why, verify), so a
 * page shows exactly what `airlock why --json` or `airlock verify --json`
 * prints for the same state. Nothing here writes.
 */

export interface DashboardTargetsRequest {
  /** The project directory or its airlock.yaml; no targets when it has none. */
  project: string;
  store?: string | undefined;
  events: EventSink;
}

/** A target and its last recorded build. */
export interface DashboardTarget {
  name: string;
  tag: string;
  /** The latest build recorded in this store, with its build time from the action result. */
  last?: BuildHistoryEntry & { durationMs?: number };
  /** The latest run of the target in the audit log: cache hit or miss, when, which artifact. */
  lastRun?: { cache: 'hit' | 'miss'; startedAt: number; finishedAt: number; artifact: string };
}

export interface DashboardTargetsReport {
  /** The project's name, or absent when the directory has no airlock.yaml. */
  project?: string;
  root: string;
  targets: DashboardTarget[];
}

/** The project's airlock.yaml, or undefined when the directory has none. */
function configFile(project: string): string | undefined {
  const file = project.endsWith('.yaml') ? project : join(project, CONFIG_FILE);
  return existsSync(file) ? file : undefined;
}

/**
 * Every target of the project with its last recorded build: reads the
 * config, the build history and each last build's action result; hashes no
 * input, so it stays fast (`dashboardWhy` is the slow half).
 */
export async function dashboardTargets(
  req: DashboardTargetsRequest,
): Promise<DashboardTargetsReport> {
  const file = configFile(req.project);
  if (!file) return { root: req.project, targets: [] };
  const project = await loadConfig(file);
  const names = [...project.targets.keys()].sort(compareBytes);
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events: req.events });
  const targets: DashboardTarget[] = [];
  try {
    const { statCache, records } = openBuildDbs(store, req.events);
    try {
      for (const name of names) {
        const target: DashboardTarget = { name, tag: tagFor(project.name, name) };
        targets.push(target);
        const last = records.lastBuild(project.root, name);
        if (!last) continue;
        const result = last.result
          ? await store.getJson<ActionResult>(last.result).catch(() => undefined)
          : undefined;
        target.last = { ...last, ...(result ? { durationMs: result.timings.durationMs } : {}) };
      }
    } finally {
      statCache.close();
      records.close();
    }
    const log = openAuditLog(store);
    try {
      for (const { entry } of log.list({ types: ['build'] })) {
        if (entry.type !== 'build' || entry.data.project !== project.name) continue;
        const target = targets.find((t) => t.name === entry.data.target);
        if (!target) continue;
        const { cache, startedAt, finishedAt, artifact } = entry.data;
        target.lastRun = { cache, startedAt, finishedAt, artifact };
      }
    } finally {
      log.close();
    }
  } finally {
    store.close();
  }
  return { project: project.name, root: project.root, targets };
}

/** What `airlock why <target> --json` says now about each target's next build. */
export async function dashboardWhy(
  req: DashboardTargetsRequest,
): Promise<{ targets: { name: string; why: WhyReport }[] }> {
  const file = configFile(req.project);
  if (!file) return { targets: [] };
  const project = await loadConfig(file);
  const targets: { name: string; why: WhyReport }[] = [];
  for (const name of [...project.targets.keys()].sort(compareBytes)) {
    const why = await runWhy({ project: file, store: req.store, events: req.events, target: name });
    targets.push({ name, why });
  }
  return { targets };
}

export interface DashboardArtifactsRequest {
  store?: string | undefined;
  events: EventSink;
}

/** One tagged artifact of the store. */
export interface DashboardArtifact {
  tag: string;
  digest: Digest;
  mediaType: string;
  size: number;
  /** Whether anything (signatures, SBOM, provenance) is attached to it. */
  attached: boolean;
}

/**
 * The store's tagged artifacts, by tag; the referrer lists (`sha256-<hex>`
 * tags) are not artifacts and only mark what has attachments. Reads
 * index.json only, so it stays fast for thousands of artifacts.
 */
export async function dashboardArtifacts(
  req: DashboardArtifactsRequest,
): Promise<{ store: string; artifacts: DashboardArtifact[] }> {
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events: req.events });
  try {
    const tags = await store.listTags();
    const names = new Set(tags.map((t) => t.name));
    const artifacts = tags
      .filter((t) => !/^sha256-[0-9a-f]{64}$/.test(t.name))
      .map((t) => ({
        tag: t.name,
        digest: t.descriptor.digest,
        mediaType: t.descriptor.mediaType,
        size: t.descriptor.size,
        attached: names.has(referrersTag(t.descriptor.digest)),
      }))
      .sort((a, b) => compareBytes(a.tag, b.tag));
    return { store: store.root, artifacts };
  } finally {
    store.close();
  }
}

export interface DashboardArtifactRequest {
  /** A store tag or a manifest digest. */
  artifact: string;
  store?: string | undefined;
  /** A policy file: the report then carries `airlock verify --policy` for this artifact. */
  policy?: string | undefined;
  events: EventSink;
}

/** One attachment of an artifact: a signed bundle or an unsigned statement waiting for `sign`. */
export interface DashboardAttachment {
  digest: Digest;
  artifactType: string;
  predicateType?: string;
  signed: boolean;
  /** The key id the bundle names (its hint); whether that key is trusted is the verification's job. */
  keyId?: string;
  /** Why the attachment could not be read, when it could not. */
  unreadable?: string;
}

/** An SBOM component as the CycloneDX attestation lists it. */
export interface DashboardComponent {
  name: string;
  version?: string;
  purl?: string;
  type?: string;
}

export interface DashboardArtifactReport {
  digest: Digest;
  tags: string[];
  /** Which recorded builds produced it (project, target, key, commit, time). */
  builds: BuildHistoryEntry[];
  attachments: DashboardAttachment[];
  /** The hermeticity level the provenance records, with its reasons. */
  level?: { level: number; reasons: string[] };
  provenance?: Statement;
  sbom?: { components: DashboardComponent[] };
  /** What `airlock verify <artifact> --policy <file> --json` reports, when a policy was given. */
  verification?: VerifyReport;
}

/** An artifact with its evidence: attachments, level and why, SBOM components, provenance, verification. */
export async function dashboardArtifact(
  req: DashboardArtifactRequest,
): Promise<DashboardArtifactReport> {
  const store = await Store.open(req.store ?? defaultStoreRoot(), { events: req.events });
  let report: DashboardArtifactReport;
  try {
    const desc = await resolveLocal(store, req.artifact, 'local store');
    const tags = (await store.listTags())
      .filter((t) => t.descriptor.digest === desc.digest)
      .map((t) => t.name)
      .sort(compareBytes);
    const { statCache, records } = openBuildDbs(store, req.events);
    let builds: BuildHistoryEntry[];
    try {
      builds = records.buildsOf(desc.digest);
    } finally {
      statCache.close();
      records.close();
    }
    const attachments: DashboardAttachment[] = [];
    const statements: Statement[] = [];
    for (const d of await localReferrers(store, desc.digest)) {
      const artifactType = d.artifactType ?? '';
      const predicateType = d.annotations?.[PREDICATE_TYPE_ANNOTATION];
      const a: DashboardAttachment = {
        digest: d.digest,
        artifactType,
        ...(predicateType ? { predicateType } : {}),
        signed: isBundleArtifactType(artifactType),
      };
      attachments.push(a);
      try {
        const read = await readStatement(store, d.digest, desc.digest, artifactType);
        if (!read) continue;
        if (read.keyId) a.keyId = read.keyId;
        statements.push(read.statement);
      } catch (err) {
        a.unreadable = err instanceof Error ? err.message : String(err);
      }
    }
    report = { digest: desc.digest, tags, builds, attachments };
    const provenance = statements.find((s) => s.predicateType === PREDICATE.slsaProvenance);
    if (provenance) {
      report.provenance = provenance;
      const level = hermeticityOf(provenance);
      if (level) report.level = level;
    }
    const bom = statements.find((s) => s.predicateType === PREDICATE.cyclonedx);
    if (bom) report.sbom = { components: componentsOf(bom) };
  } finally {
    store.close();
  }
  if (req.policy !== undefined) {
    report.verification = await runVerify({
      artifact: report.digest,
      policy: req.policy,
      store: req.store,
      events: req.events,
    });
  }
  return report;
}

/** The statement an attachment carries (signed: through its bundle) and the key id it names. */
async function readStatement(
  store: Store,
  attachment: Digest,
  subject: Digest,
  artifactType: string,
): Promise<{ statement: Statement; keyId?: string } | undefined> {
  const m = parseManifest(await store.getBytes(attachment), MEDIA.ociManifest, attachment);
  if (m.kind !== 'manifest' || m.subject?.digest !== subject || !m.layers[0]) return undefined;
  const bytes = await store.getBytes(m.layers[0].digest);
  if (isStatementArtifactType(artifactType)) return { statement: parseStatement(bytes) };
  if (!isBundleArtifactType(artifactType)) return undefined;
  const bundle = parseBundle(bytes);
  if (bundle.content.$case !== 'dsseEnvelope') return undefined;
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  const material = bundle.verificationMaterial.content;
  const keyId = material.$case === 'publicKey' ? material.publicKey.hint : undefined;
  return { statement: parseStatement(envelope.payload), ...(keyId ? { keyId } : {}) };
}

/** The `hermeticity` byproduct of SLSA provenance: the level achieved and why. */
function hermeticityOf(s: Statement): { level: number; reasons: string[] } | undefined {
  const byproducts = (s.predicate as { runDetails?: { byproducts?: unknown[] } }).runDetails
    ?.byproducts;
  for (const b of byproducts ?? []) {
    const r = b as { name?: string; annotations?: { level?: unknown; reasons?: unknown } };
    if (r.name !== 'hermeticity' || typeof r.annotations?.level !== 'number') continue;
    const reasons = Array.isArray(r.annotations.reasons)
      ? r.annotations.reasons.filter((x): x is string => typeof x === 'string')
      : [];
    return { level: r.annotations.level, reasons };
  }
  return undefined;
}

/** The components of a CycloneDX attestation, in document order. */
function componentsOf(s: Statement): DashboardComponent[] {
  const list = (s.predicate as { components?: unknown[] }).components ?? [];
  return list.map((c) => {
    const x = c as { name?: unknown; version?: unknown; purl?: unknown; type?: unknown };
    return {
      name: String(x.name),
      ...(typeof x.version === 'string' ? { version: x.version } : {}),
      ...(typeof x.purl === 'string' ? { purl: x.purl } : {}),
      ...(typeof x.type === 'string' ? { type: x.type } : {}),
    };
  });
}

/**
 * A cheap fingerprint of what the dashboard shows: the size and mtime of the
 * store's index.json and of the build and metadata databases with their
 * write-ahead logs. Another process's build or sign changes it (every SQLite
 * commit grows or rewrites a WAL), so the dashboard polls it to push live
 * updates; it reads no database.
 */
export function storeFingerprint(storeRoot = defaultStoreRoot()): string {
  const p = storePaths(storeRoot);
  const parts: string[] = [];
  for (const file of [p.index, p.buildDb, `${p.buildDb}-wal`, p.metaDb, `${p.metaDb}-wal`]) {
    try {
      const s = statSync(file, { bigint: true });
      parts.push(`${s.size}:${s.mtimeNs}`);
    } catch {
      parts.push('-');
    }
  }
  return parts.join('/');
}
