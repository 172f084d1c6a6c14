import type { SignReport } from './sign.js';
import { buildGraph, defaultJobs, throwIfFailed } from '../builder/scheduler.js';
import { describeOrigin, type TargetBuild } from '../builder/executor.js';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNodeEngine, findOnPath, pathOf } from '../builder/toolchain.js';
import type { ProjectConfig } from '../config/index.js';
import { planOrder } from '../config/plan.js';
import { buildContext, openWorkspace, type Workspace } from './context.js';
import { registryHooks, withRunEnv, type RemoteBuildOptions } from './build-remote.js';
import { auditBuild } from './audit-build.js';
import { gitState, type GitState } from './git-state.js';
import {
  checkpointDue,
  NO_CHECKPOINT_KEY,
  UNPROTECTED_PREFIX,
  unprotectedMessage,
} from './audit-env.js';
import { evidenceHook } from './evidence-hook.js';
import type { AfterBuild } from '../builder/context.js';
import type { FsHint } from '../hash/hint.js';
import {
  dropStamp,
  refuse,
  stampRefusal,
  StampRecorder,
  STAMP_FORMAT,
  stampPath,
  writeStamp,
  type StampHeader,
} from './build-stamp.js';
import { settleSandboxScratch } from '../sandbox/index.js';
import { buildEventTarget, type BuildEventTarget } from './audit-build.js';
import { defaultAuditConfig } from '../config/audit.js';

export interface BuildRequest extends Workspace, RemoteBuildOptions {
  /** Targets to build with their dependencies; all when empty. */
  targets: string[];
  /** Skip the action cache (outputs still land in the store). */
  noCache?: boolean;
  /** Targets built at once (default: twice the number of cores: steps wait on I/O too). */
  jobs?: number;
  /** Sign each built target's evidence with this cosign-format key (`build --sign`). */
  sign?: { key: string; password: string; builderId?: string | undefined };
  /** Fail when airlock.lock differs from the config and package-locks instead of updating it. */
  frozen?: boolean;
  /** Run what `airlock fetch` does before building. */
  fetch?: boolean;
  /**
   * Attach provenance, CycloneDX and SPDX SBOMs and test results to each
   * artifact as it is built (default true); `--sign` signs them.
   */
  evidence?: boolean;
  /** What the build daemon's file watcher knows unchanged since the last build (see `FsHint`). */
  fsHint?: FsHint | undefined;
  /**
   * Write a build stamp after a successful build (see build-stamp.ts), so that
   * the next run with the same arguments and environment can skip the build
   * when nothing changed; any build given this removes the old stamp first.
   */
  stamp?: StampRequest | undefined;
}

/** The build stamp's key, and what the run's no-op prints on stdout. */
export interface StampRequest {
  /** `stampKey(argv, cwd, env)`; the stamp is `stampPath(<store root>, key)`. */
  key: string;
  /** stdout of a run whose report this is (every target cached). */
  stdout: (report: BuildReport) => string;
  /** The run's global output flags, for the no-op's stderr. */
  render: { json: boolean; color: boolean };
}

export interface BuildReport {
  project: string;
  /** With `--sign`: the bundles attached to each artifact. */
  signed?: SignReport;
  store: string;
  targets: {
    name: string;
    cached: boolean;
    actionKey: string;
    outputTree: string;
    artifact: string;
    tag: string;
    sourceDateEpoch: number;
    /** Set when the result came from a remote cache (in this build or an earlier one). */
    remote?: { repository: string; signedBy: string; text: string };
  }[];
}

/** `airlock build`: builds the requested targets in dependency order, from the cache where possible. */
export async function runBuild(req: BuildRequest): Promise<BuildReport> {
  // The key is opened first: a wrong password fails before a long build, not after.
  const signing = req.sign
    ? await import('./sign.js').then(async (m) => ({
        m,
        key: await m.loadSigningKey(req.sign!.key, req.sign!.password),
      }))
    : undefined;
  // Records what the build walks and hashes (a stamp must cover it), around the daemon's hint if any.
  const recorder = req.stamp ? new StampRecorder(req.fsHint) : undefined;
  const seen = {
    queued: [] as string[],
    finished: [] as string[],
    said: undefined as string | undefined,
  };
  if (recorder) {
    const outer = req.events;
    req = {
      ...req,
      fsHint: recorder,
      events: (e) => {
        if (e.type === 'target') {
          if (e.state === 'queued') seen.queued.push(e.target);
          else if (e.state === 'cached' || e.state === 'built') seen.finished.push(e.target);
        } else if (
          e.type === 'log' &&
          e.level !== 'debug' &&
          // A due checkpoint without a key is said at info level: the fast path says it too.
          !(e.level === 'info' && e.message.startsWith(UNPROTECTED_PREFIX))
        )
          seen.said ??= `the build said: ${e.message}`;
        outer(e);
      },
    };
  }
  const targetsOf = new Map<string, BuildEventTarget>();
  const open = await openWorkspace(req);
  const stampFile = req.stamp ? stampPath(open.store.root, req.stamp.key) : undefined;
  if (stampFile) dropStamp(stampFile);
  // The source's git state is read while the build plans; anything written
  // into the project (airlock.lock, outputs) waits for it, so the state is
  // the one the build started from. A no-op build writes nothing and never waits.
  const source = gitState(open.project.root);
  source.catch(() => {}); // awaited below; a rejection is reported there
  let audit: ReturnType<typeof auditBuild> | undefined;
  let stamped: { header: StampHeader; builds: TargetBuild[] } | undefined;
  try {
    // A killed build's work directories go now, not an hour later at gc.
    for (const dir of await open.store.removeDeadTempDirs()) {
      req.events({
        type: 'log',
        level: 'debug',
        message: `removed ${dir} of a build that is gone`,
      });
    }
    const order = planOrder(open.project, req.targets);
    checkNodeEngine(open.project, order, pathOf(open.env));
    // Every target built or restored is recorded in the audit log (one transaction at the end).
    audit = auditBuild(open, req.events, req.audit, source);
    const ctx = buildContext(open, audit.events, {
      useCache: req.noCache !== true,
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.fsHint ? { fsHint: req.fsHint } : {}),
      afterBuild: combineAfterBuild(
        recorder
          ? (done) => {
              targetsOf.set(done.build.target, buildEventTarget(open, done.build, done.action));
              return Promise.resolve();
            }
          : undefined,
        audit.afterBuild,
        // Provenance, SBOMs and test results of every artifact, attached as it is built.
        req.evidence === false
          ? undefined
          : evidenceHook(open, req.events, { builderId: req.sign?.builderId }),
      ),
    });
    // Outputs are written into the project only once the git state has been read.
    ctx.beforeProjectWrite = () => source.then(() => {});
    Object.assign(
      ctx,
      await registryHooks(
        open.project,
        open.store,
        withRunEnv(req, open.env),
        req.events,
        open.statCache,
      ),
    ); // toolchain images, remote cache
    const { lockedInputHooks } = await import('./npm-install.js');
    Object.assign(
      ctx,
      await lockedInputHooks(open, req.events, {
        ...(req.frozen !== undefined ? { frozen: req.frozen } : {}),
        beforeWrite: () => source,
        signal: req.signal,
        fetch:
          req.fetch === true
            ? async () => {
                const { runFetch } = await import('./fetch.js');
                await runFetch({
                  project: open.project,
                  store: open.store.root,
                  events: req.events,
                  insecure: req.insecure,
                });
              }
            : undefined,
      }),
    );
    const summary = await buildGraph(ctx, order, req.jobs ?? defaultJobs());
    open.statCache.flush();
    // Recorded before any signature the build makes (also when a target failed).
    const tail = await audit.flush();
    throwIfFailed(summary, req.signal);
    const report: BuildReport = {
      project: open.project.name,
      store: open.store.root,
      targets: order.map((name) => describe(summary.builds.get(name)!)),
    };
    if (signing) {
      const signed = await signing.m.signTargets(
        open,
        order,
        signing.key,
        req.events,
        req.sign?.builderId,
        req.audit,
      );
      report.signed = signed;
    } else if (
      tail &&
      checkpointDue(tail, (req.audit?.clock ?? open.store.clock).now(), open.project.audit)
    ) {
      // Signing checkpoints its head anyway; otherwise one may be due by count or age
      // (decided without loading the signing code, which only a due checkpoint needs).
      if ((req.audit?.signing?.key ?? open.project.audit?.signingKey) === undefined) {
        // No key to sign one with: said as audit.ts says it, without loading the signing code.
        req.events({
          type: 'log',
          level: 'info',
          message: unprotectedMessage(tail.covered, tail.head, NO_CHECKPOINT_KEY),
        });
      } else {
        const { checkpointAfter } = await import('./audit.js');
        await checkpointAfter(open.store, open.project, req.audit, req.events);
      }
    }
    if (recorder && req.stamp && !signing && stampable(req, open.project, summary.builds)) {
      stamped = {
        header: {
          format: STAMP_FORMAT,
          key: req.stamp.key,
          t0Ms: recorder.t0Ms,
          commit: (await source.catch((): GitState => ({}))).commit ?? null,
          project: open.project.name,
          root: open.project.root,
          stdout: req.stamp.stdout({
            ...report,
            targets: report.targets.map((t) => ({ ...t, cached: true })),
          }),
          render: req.stamp.render,
          queued: seen.queued,
          finished: seen.finished,
          audit: {
            targets: seen.finished.map((t) => targetsOf.get(t)!),
            schedule: open.project.audit ?? defaultAuditConfig(),
          },
        },
        builds: order.map((name) => summary.builds.get(name)!),
      };
    }
    return report;
  } finally {
    try {
      await audit?.flush();
    } finally {
      open.close();
      // Written once every database is closed: the stamp covers their files as they are now.
      if (stamped && recorder && stampFile && seen.said === undefined) {
        // The fast path answers only from a store with nothing in tmp/: the sandbox's
        // scratch directories (removed in the background, a spare made ahead) go first.
        await settleSandboxScratch();
        const { stampOfBuild } = await import('./stamp-writer.js');
        const text = stampOfBuild(
          stamped.header,
          recorder,
          open.project,
          stamped.builds,
          open.store.root,
          pathOf(open.env),
        );
        if (text !== undefined) writeStamp(stampFile, text);
      } else if (recorder) refuse(seen.said ?? 'not stampable');
      // Why this run left no stamp, beside where it would be (for whoever wonders).
      if (stampFile && recorder && stampRefusal() !== undefined)
        writeStamp(`${stampFile.slice(0, -'.stamp'.length)}.refused`, `${stampRefusal()}\n`);
    }
  }
}

/**
 * True when a run like this one can be stamped: cache on, no remote cache,
 * fetch or signing, no base or toolchain images, every target's result from
 * the local cache or its own steps, every target of the order known.
 */
function stampable(
  req: BuildRequest,
  project: ProjectConfig,
  builds: ReadonlyMap<string, TargetBuild>,
): boolean {
  if (req.noCache === true || req.fetch === true || req.evidence === false) return false;
  // A checkpoint due after the build is signed with the key: the fast path never signs.
  if (project.audit?.signingKey !== undefined) return false;
  if (req.remoteCache !== undefined || project.cache?.remote !== undefined) return false;
  for (const b of builds.values()) {
    if (b.origin !== undefined) return false;
    const t = project.targets.get(b.target);
    if (!t || t.image?.base !== undefined || t.toolchain.image !== undefined) return false;
  }
  return true;
}

/** Fails early, with the fix, when a target runs the host's node and package.json's engines.node rules it out. */
function checkNodeEngine(project: ProjectConfig, order: readonly string[], envPath: string): void {
  const usesNode = order.some((n) => project.targets.get(n)?.toolchain.host.includes('node'));
  if (!usesNode) return;
  const pkgFile = join(project.root, 'package.json');
  let engines: unknown;
  try {
    engines = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { engines?: { node?: unknown } })
      .engines?.node;
  } catch {
    return; // no package.json, or one npm itself would reject: not this check's business
  }
  if (typeof engines !== 'string') return;
  const node = findOnPath('node', envPath);
  if (node === undefined) return; // resolving the tool reports a missing node with its own fix
  const run = spawnSync(node, ['--version'], { encoding: 'utf8' });
  if (run.status !== 0) return;
  assertNodeEngine({ file: pkgFile, engines }, { path: node, version: run.stdout.trim() });
}

function describe(b: TargetBuild): BuildReport['targets'][number] {
  return {
    name: b.target,
    cached: b.cached,
    actionKey: b.key,
    outputTree: b.result.outputs.tree,
    artifact: b.manifest.digest,
    tag: b.tag,
    sourceDateEpoch: b.sourceDateEpoch,
    ...(b.origin
      ? {
          remote: {
            repository: b.origin.repository,
            signedBy: b.origin.signer,
            text: describeOrigin(b.origin),
          },
        }
      : {}),
  };
}

/** One after-build hook that runs each given hook in turn. */
function combineAfterBuild(
  ...hooks: (((done: AfterBuild) => Promise<void>) | undefined)[]
): (done: AfterBuild) => Promise<void> {
  const present = hooks.filter((h): h is (done: AfterBuild) => Promise<void> => h !== undefined);
  return async (done) => {
    for (const h of present) await h(done);
  };
}
