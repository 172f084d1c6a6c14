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
import { auditBuild, gitState } from './audit-build.js';
import { checkpointDue } from './audit-env.js';
import { evidenceHook } from './evidence-hook.js';
import type { AfterBuild } from '../builder/context.js';
import type { FsHint } from '../hash/hint.js';

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
  const open = await openWorkspace(req);
  // The source's git state is read while the build plans; anything written
  // into the project (airlock.lock, outputs) waits for it, so the state is
  // the one the build started from. A no-op build writes nothing and never waits.
  const source = gitState(open.project.root);
  source.catch(() => {}); // awaited below; a rejection is reported there
  let audit: ReturnType<typeof auditBuild> | undefined;
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
      const { checkpointAfter } = await import('./audit.js');
      await checkpointAfter(open.store, open.project, req.audit, req.events);
    }
    return report;
  } finally {
    try {
      await audit?.flush();
    } finally {
      open.close();
    }
  }
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
