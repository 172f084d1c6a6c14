import { Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hostname } from 'node:os';
import {
  PREDICATE,
  buildProvenance,
  buildTestResultAttestation,
  derivedUuid,
  parseDpkgStatus,
  type DebPackage,
  type TestStepFacts,
  cyclonedxJson,
  sbomModel,
  spdxJson,
  statement,
  type BuildFacts,
  type Statement,
} from '../attest/index.js';
import type { ActionResult, BuildRecord } from '../builder/action.js';
import type { AfterBuild } from '../builder/context.js';
import { readTarFile } from '../archive/index.js';
import type { TargetConfig } from '../config/index.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import { imageRootDir, readImageRoot } from '../registry/index.js';
import { rootTree } from './image-roots.js';
import type { Store } from '../store/index.js';
import { attachStatement } from './attestations.js';
import { tagFor } from '../builder/executor.js';
import { resolveHostTools } from '../builder/toolchain.js';
import { sha256, type Digest } from '../core/digest.js';
import { AirlockError, isAirlockError } from '../core/errors.js';
import { parseManifest, type Descriptor } from '../oci/index.js';
import { openWorkspace, type OpenWorkspace, type Workspace } from './context.js';
import type { EvidenceErrorCode } from './errors.js';
import { lockFactsOf } from './evidence-lock.js';
import { hostPackages } from './host-packages.js';

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

/**
 * The Debian packages installed in an unpacked image root, from its
 * `var/lib/dpkg/status`; none when the image has no dpkg. Every directory
 * on the way must be a real directory (a symlink could point out of the
 * root), and the root must still be the tree recorded when it was
 * unpacked, or its list would not describe the image.
 */
export async function imageDebPackages(
  roots: string,
  digest: Digest,
  statCache: OpenWorkspace['statCache'],
): Promise<DebPackage[]> {
  const dir = imageRootDir(roots, digest);
  const rootfs = join(dir, 'rootfs');
  let at = rootfs;
  for (const [i, part] of ['var', 'lib', 'dpkg', 'status'].entries()) {
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st || !(i === 3 ? st.isFile() : st.isDirectory())) return [];
  }
  const record = await readImageRoot(roots, digest);
  if (record?.tree === undefined || (await rootTree(rootfs, statCache)) !== record.tree)
    throw new AirlockError<EvidenceErrorCode>(
      'NOT_BUILT',
      `the unpacked toolchain image ${digest} at ${dir} is not the tree recorded when it was unpacked`,
      {
        hint: 'Run `airlock store fsck --repair` and build again: the image is unpacked anew.',
        details: { digest, path: dir },
      },
    );
  return parseDpkgStatus(await readFile(at, 'utf8'));
}

/** An image toolchain: its reference without the digest, its digest and its Debian packages. */
async function imageToolFacts(
  open: OpenWorkspace,
  ref: string,
  tools: readonly { name: string; digest: Digest }[],
): Promise<BuildFacts['toolchain']> {
  const name = ref.replace(/@sha256:[0-9a-f]{64}$/, '');
  const out: BuildFacts['toolchain'] = [];
  for (const t of tools) {
    const packages = await imageDebPackages(open.store.paths.roots, t.digest, open.statCache);
    out.push({
      kind: 'image',
      name,
      digest: t.digest,
      ...(packages.length > 0 ? { packages } : {}),
    });
  }
  return out;
}

/** What evidence for several targets of one build asks the system once: git, dpkg. */
export interface FactsMemo {
  source?: Promise<BuildFacts['source']>;
  deb: Map<string, Promise<{ name: string; version: string; arch: string } | undefined>>;
}

export const newFactsMemo = (): FactsMemo => ({ deb: new Map() });

/**
 * The host binaries of a toolchain with their real paths and Debian
 * packages, for those whose binary on PATH still has the digest the build
 * recorded (a binary changed since is listed by name and digest only).
 */
async function hostToolFacts(
  open: OpenWorkspace,
  tools: readonly { name: string; digest: Digest }[],
  memo: FactsMemo,
): Promise<BuildFacts['toolchain']> {
  const out: BuildFacts['toolchain'] = [];
  for (const t of tools) {
    const [found] = await resolveHostTools([t.name], open.statCache, open.env).catch(() => []);
    if (!found || found.digest !== t.digest) {
      out.push({ kind: 'host', name: t.name, digest: t.digest });
      continue;
    }
    let owner = memo.deb.get(found.path);
    if (!owner) {
      owner = hostPackages.of(found.path);
      memo.deb.set(found.path, owner);
    }
    const deb = await owner;
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
  memo: FactsMemo = newFactsMemo(),
  built?: { result: Digest; value: ActionResult; createdAt: number },
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
  // A build that skipped the action cache (--no-cache) hands its result over instead.
  const entry = (await open.store.getAction(record.key)) ?? built;
  if (!entry) throw notBuilt(target, `the action ${record.key} is no longer cached`);
  const result =
    built && entry === built
      ? built.value
      : await open.store.getJson<ActionResult>(entry.result).catch(gone);
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
  let npmTree: BuildFacts['npmTree'];
  for (const d of record.action.deps) {
    // The offline npm install is a dependency of the key, not a target: it has
    // no tag, and its packages are the lock's.
    if (!project.targets.has(d.target)) {
      npmTree = { path: d.path, digest: d.outputs };
      continue;
    }
    const dep = await open.store.resolveTag(tagFor(project.name, d.target));
    deps.push({ target: d.target, outputs: d.outputs, ...(dep ? { artifact: dep.digest } : {}) });
  }
  const lock = await lockFactsOf(project, open.store, config, undefined, open.records);
  // The lock must still hold every package the build used, or the evidence would describe another build.
  const npmUsed = new Set(lock.flatMap((l) => (l.kind === 'npm' ? [l.integrity] : [])));
  const stale = (record.action.locked ?? []).filter(
    (l) => l.kind === 'npm' && !npmUsed.has(l.digest),
  );
  if (stale.length > 0)
    throw notBuilt(
      target,
      `airlock.lock or ${config.npm?.lockfile ?? 'the package-lock'} changed since the last build (${stale
        .slice(0, 3)
        .map((l) => `${l.name}@${l.version}`)
        .join(', ')} no longer locked)`,
    );
  const used = new Set((record.action.locked ?? []).map((l) => l.digest));
  memo.source ??= gitSource(project.root);
  const source = await memo.source;
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
      ? await imageToolFacts(open, config.toolchain.image, record.action.toolchain)
      : await hostToolFacts(open, record.action.toolchain, memo),
    inputTree: record.action.inputs,
    inputs: record.inputs.flatMap((e) =>
      e.kind === 'file' ? [{ path: e.path, digest: e.digest }] : [],
    ),
    deps,
    ...(npmTree ? { npmTree } : {}),
    lock: lock.filter((l) => l.kind !== 'npm' || used.has(l.integrity ?? '')),
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

/** The invocation id of a build's provenance: derived from its action key and end, so signing again repeats it. */
export function invocationIdOf(facts: BuildFacts, finishedOn: number): string {
  return derivedUuid(`${facts.actionKey}\0${finishedOn}`);
}

/**
 * The test-result statement of a target whose config marks steps as tests:
 * each marked step's exit status (a step that failed failed the build, so
 * an artifact's steps all exited 0) and the cases of the JUnit report it
 * wrote, read from the artifact's output layer, verified.
 */
export async function testResultStatement(
  store: Store,
  facts: BuildFacts,
  config: TargetConfig,
  result: ActionResult,
): Promise<Statement | undefined> {
  if (!config.tests?.length) return undefined;
  const layer = result.outputs.layer.digest;
  const steps: TestStepFacts[] = [];
  for (const t of config.tests) {
    let junit: string | undefined;
    if (t.junit !== undefined) {
      const bytes = await store.getBytes(layer);
      const xml = await readTarFile(Readable.from([bytes]), (p) => p === t.junit, MAX_JUNIT);
      if (!xml)
        throw new AirlockError<EvidenceErrorCode>(
          'TEST_REPORT_MISSING',
          `target "${facts.target}": step ${t.step} is a test whose JUnit report ${t.junit} is not among the outputs`,
          {
            hint: `Write the report to ${t.junit} in the step and list it under targets.${facts.target}.outputs, or remove junit from the test.`,
            details: { target: facts.target, junit: t.junit },
          },
        );
      junit = xml.toString('utf8');
    }
    steps.push({
      name: `step-${t.step}: ${config.steps[t.step] ?? ''}`,
      exitCode: result.exitCode,
      ...(junit !== undefined ? { junit } : {}),
    });
  }
  return buildTestResultAttestation(facts.artifact, facts.configDigest, steps);
}

/** Largest JUnit report read into a test-result attestation. */
const MAX_JUNIT = 16 << 20;

/**
 * Attaches provenance, CycloneDX and SPDX SBOMs and, for targets with test
 * steps, a test-result statement, unsigned, to an artifact the build made or
 * restored (`airlock sign` or `build --sign` signs them). The build reaches
 * it through `evidenceHook` (evidence-hook.ts), which loads this module only
 * when there is evidence to make.
 */
export function evidenceAfterBuild(
  open: OpenWorkspace,
  events: EventSink,
  opts: { builderId?: string | undefined; clock?: Clock | undefined } = {},
): (done: AfterBuild) => Promise<void> {
  const memo = newFactsMemo();
  return async (done) => {
    const artifact = done.build.manifest;
    const target = done.build.target;
    const { facts, startedOn, finishedOn } = await collectFacts(open, target, memo, {
      result: done.build.resultDigest,
      value: done.result,
      createdAt: (opts.clock ?? systemClock).now(),
    });
    const statements = evidenceStatements(facts, {
      builderId: opts.builderId,
      host: hostname(),
      invocationId: invocationIdOf(facts, finishedOn),
      startedOn,
      finishedOn,
    });
    const tests = await testResultStatement(
      open.store,
      facts,
      open.project.targets.get(target)!,
      done.result,
    );
    if (tests) statements.push(tests);
    for (const s of statements) await attachStatement(open.store, artifact, s);
    events({
      type: 'log',
      level: 'debug',
      target,
      message: `attached ${statements.map((s) => s.predicateType).join(', ')} to ${artifact.digest}`,
    });
  };
}
