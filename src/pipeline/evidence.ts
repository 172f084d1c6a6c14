import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  PREDICATE,
  buildProvenance,
  cyclonedxJson,
  sbomModel,
  spdxJson,
  statement,
  type BuildFacts,
  type Statement,
} from '../attest/index.js';
import type { ActionResult, BuildRecord } from '../builder/action.js';
import { tagFor } from '../builder/executor.js';
import { resolveHostTools } from '../builder/toolchain.js';
import { sha256, type Digest } from '../core/digest.js';
import { AirlockError, isAirlockError } from '../core/errors.js';
import { parseManifest, type Descriptor } from '../oci/index.js';
import { openWorkspace, type OpenWorkspace, type Workspace } from './context.js';
import type { EvidenceErrorCode } from './errors.js';

const run = promisify(execFile);

/** The Airlock version recorded in provenance and SBOMs. */
export const AIRLOCK_VERSION = '0.1.0';
export const AIRLOCK_TOOL = { name: 'airlock', version: AIRLOCK_VERSION } as const;

const notBuilt = (target: string, why: string): AirlockError<EvidenceErrorCode> =>
  new AirlockError<EvidenceErrorCode>('NOT_BUILT', `${target}: ${why}`, {
    hint: `Run \`airlock build ${target}\` first; evidence describes the last build of a target.`,
    details: { target },
  });

/** The git repository, commit and ref of the project, when it is in git with a remote. */
async function gitSource(root: string): Promise<BuildFacts['source']> {
  const git = async (...args: string[]): Promise<string | undefined> => {
    try {
      const { stdout } = await run('git', ['-C', root, ...args], { timeout: 10_000 });
      return stdout.trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const uri = await git('config', '--get', 'remote.origin.url');
  if (!uri) return undefined;
  const commit = await git('rev-parse', '--verify', '-q', 'HEAD');
  const ref = await git('symbolic-ref', '-q', 'HEAD');
  return { uri, ...(commit ? { commit } : {}), ...(ref ? { ref } : {}) };
}

/** The Debian package dpkg says owns `path` (also tried without a merged-/usr prefix), if any. */
async function debianPackage(
  path: string,
): Promise<{ name: string; version: string; arch: string } | undefined> {
  for (const candidate of [path, path.replace(/^\/usr(?=\/(?:s?bin|lib)\/)/, '')]) {
    try {
      const { stdout } = await run('dpkg-query', ['-S', candidate], { timeout: 10_000 });
      const owner = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?: /m.exec(stdout);
      if (!owner) continue;
      const { stdout: info } = await run(
        'dpkg-query',
        ['-W', '-f=${Version} ${Architecture}', owner[2] ? `${owner[1]!}:${owner[2]}` : owner[1]!],
        { timeout: 10_000 },
      );
      const [version, arch] = info.trim().split(' ');
      if (version && arch) return { name: owner[1]!, version, arch };
    } catch {
      // not a dpkg system, or no package owns it
    }
  }
  return undefined;
}

/**
 * The host binaries of a toolchain with their real paths and Debian
 * packages, for those whose binary on PATH still has the digest the build
 * recorded (a binary changed since is listed by name and digest only).
 */
async function hostToolFacts(
  open: OpenWorkspace,
  tools: readonly { name: string; digest: Digest }[],
): Promise<BuildFacts['toolchain']> {
  const out: BuildFacts['toolchain'] = [];
  for (const t of tools) {
    const [found] = await resolveHostTools([t.name], open.statCache).catch(() => []);
    if (!found || found.digest !== t.digest) {
      out.push({ kind: 'host', name: t.name, digest: t.digest });
      continue;
    }
    const deb = await debianPackage(found.path);
    out.push({
      kind: 'host',
      name: t.name,
      digest: t.digest,
      path: found.path,
      ...(deb ? { deb } : {}),
    });
  }
  return out;
}

/**
 * What the last build of `target` knows, read back from the store: its
 * artifact, build record, action result and dependency artifacts. The build
 * record must match the artifact the target's tag names (same layer), or the
 * evidence would describe another build: NOT_BUILT.
 */
export async function collectFacts(
  open: OpenWorkspace,
  target: string,
): Promise<{ facts: BuildFacts; artifact: Descriptor; startedOn: number; finishedOn: number }> {
  const project = open.project;
  const config = project.targets.get(target);
  if (!config) {
    throw new AirlockError<EvidenceErrorCode>(
      'NOT_BUILT',
      `no target "${target}" in ${project.file}`,
      {
        hint: `Name a target declared in ${project.file}.`,
      },
    );
  }
  const tag = tagFor(project.name, target);
  const artifact = await open.store.resolveTag(tag);
  if (!artifact) throw notBuilt(target, `no artifact tagged ${tag} in the store`);
  const last = open.records.lastBuild(project.root, target);
  if (!last) throw notBuilt(target, 'no build record');
  // gc may have freed the record or result of an old build: then there is nothing to describe.
  const gone = (err: unknown): never => {
    if (isAirlockError(err, 'BLOB_NOT_FOUND'))
      throw notBuilt(target, 'the last build record is no longer in the store');
    throw err;
  };
  const record = await open.store.getJson<BuildRecord>(last.record).catch(gone);
  const entry = await open.store.getAction(record.key);
  if (!entry) throw notBuilt(target, `the action ${record.key} is no longer cached`);
  const result = await open.store.getJson<ActionResult>(entry.result).catch(gone);
  const manifest = parseManifest(
    await open.store.getBytes(artifact.digest),
    artifact.mediaType,
    tag,
  );
  if (
    manifest.kind !== 'manifest' ||
    !manifest.layers.some((l) => l.digest === result.outputs.layer.digest)
  )
    throw notBuilt(target, `the artifact ${artifact.digest} is not the output of the last build`);
  const deps: BuildFacts['deps'] = [];
  for (const d of record.action.deps) {
    // The offline npm install is a dependency tree, not a target: it has no tag.
    if (!project.targets.has(d.target)) {
      deps.push({ target: d.target, outputs: d.outputs });
      continue;
    }
    const dep = await open.store.resolveTag(tagFor(project.name, d.target));
    deps.push({ target: d.target, outputs: d.outputs, ...(dep ? { artifact: dep.digest } : {}) });
  }
  const source = await gitSource(project.root);
  const facts: BuildFacts = {
    project: project.name,
    target,
    artifact: { name: tag, digest: artifact.digest },
    actionKey: record.key,
    configDigest: sha256(await readFile(project.file)),
    ...(source ? { source } : {}),
    sourceDateEpoch: record.action.sourceDateEpoch,
    airlockVersion: AIRLOCK_VERSION,
    sandboxProfile: record.action.sandbox,
    platform: record.action.platform,
    toolchain: config.toolchain.image
      ? record.action.toolchain.map((t) => ({
          kind: 'image' as const,
          name: t.name,
          digest: t.digest,
        }))
      : await hostToolFacts(open, record.action.toolchain),
    inputTree: record.action.inputs,
    inputs: record.inputs.flatMap((e) =>
      e.kind === 'file' ? [{ path: e.path, digest: e.digest }] : [],
    ),
    deps,
    logs: result.logs,
  };
  // The action-cache entry's time is the store clock's at the end of the build.
  return {
    facts,
    artifact,
    startedOn: entry.createdAt - result.timings.durationMs,
    finishedOn: entry.createdAt,
  };
}

export interface EvidenceOptions {
  /** runDetails.builder.id (default: a local Airlock on this host). */
  builderId?: string | undefined;
  host: string;
  invocationId: string;
  startedOn: number;
  finishedOn: number;
}

/** The statements `airlock sign` signs for a build: SLSA provenance, CycloneDX and SPDX SBOMs. */
export function evidenceStatements(facts: BuildFacts, opts: EvidenceOptions): Statement[] {
  const model = sbomModel(facts, AIRLOCK_TOOL);
  return [
    buildProvenance(facts, {
      host: opts.host,
      invocationId: opts.invocationId,
      startedOn: opts.startedOn,
      finishedOn: opts.finishedOn,
      ...(opts.builderId ? { builderId: opts.builderId } : {}),
    }),
    statement(facts.artifact, PREDICATE.cyclonedx, JSON.parse(cyclonedxJson(model)) as unknown),
    statement(facts.artifact, PREDICATE.spdx, JSON.parse(spdxJson(model)) as unknown),
  ];
}

export interface SbomRequest extends Workspace {
  target: string;
  format: 'cyclonedx' | 'spdx';
}

/** `airlock sbom TARGET`: the SBOM of the target's last build, byte-identical for the same build. */
export async function runSbom(
  req: SbomRequest,
): Promise<{ target: string; artifact: Digest; format: string; sbom: string }> {
  const open = await openWorkspace(req);
  try {
    const { facts } = await collectFacts(open, req.target);
    const model = sbomModel(facts, AIRLOCK_TOOL);
    const { recordAudit } = await import('./audit.js');
    recordAudit(
      open.store,
      {
        type: 'attestation',
        data: {
          artifact: facts.artifact.digest,
          predicateType: req.format === 'spdx' ? PREDICATE.spdx : PREDICATE.cyclonedx,
          target: req.target,
        },
      },
      req.audit,
    );
    return {
      target: req.target,
      artifact: facts.artifact.digest,
      format: req.format,
      sbom: req.format === 'spdx' ? spdxJson(model) : cyclonedxJson(model),
    };
  } finally {
    open.close();
  }
}
