import {
  diffBuilds,
  type ActionChange,
  type ActionResult,
  type BuildRecord,
} from '../builder/action.js';
import { describeOrigin, planAction, type TargetBuild } from '../builder/executor.js';
import type { BuildErrorCode } from '../builder/errors.js';
import type { BuildHistoryEntry, BuildRecords } from '../builder/records.js';
import { planOrder } from '../config/plan.js';
import { AirlockError } from '../core/errors.js';
import type { Digest } from '../core/digest.js';
import { registryHooks, withRunEnv } from './build-remote.js';
import { lockedInputHooks } from './npm-install.js';
import { buildContext, openWorkspace, type Workspace } from './context.js';

export interface WhyRequest extends Workspace {
  target: string;
  /**
   * Compare against this earlier build of the target instead of the latest:
   * its artifact (manifest) digest, action key, or source commit (7+ hex digits).
   */
  against?: string;
}

export interface WhyReport {
  target: string;
  key: Digest;
  previousKey?: Digest;
  /** `against` as requested, when the comparison was not with the latest build. */
  against?: string;
  /** The build compared against: its artifact digest and source commit, when known. */
  previous?: { artifact?: Digest; sourceCommit?: string };
  /** hit: the cache holds this key; no-record: never built here; changed: see changes. */
  verdict: 'hit' | 'no-record' | 'changed' | 'evicted';
  changes: ActionChange[];
  /** Dependencies whose current outputs are unknown because they would be rebuilt first. */
  rebuiltDeps: string[];
  /** For a hit restored from a remote cache: where from and who signed it. */
  origin?: { repository: string; signedBy: string; text: string };
}

/**
 * `airlock why TARGET`: computes the target's current action without building
 * and compares it with the last build of that target here, component by
 * component, down to each input file's old and new digest.
 */
export async function runWhy(req: WhyRequest): Promise<WhyReport> {
  const open = await openWorkspace(req);
  try {
    const ctx = {
      ...buildContext(open, req.events, { materialize: false }),
      imageRoots: (
        await registryHooks(
          open.project,
          open.store,
          withRunEnv({ noRemoteCache: true }, open.env),
          req.events,
          open.statCache,
        )
      ).imageRoots,
      ...(await lockedInputHooks(open, req.events, { readOnly: true })),
    };
    const order = planOrder(open.project, [req.target]);
    const known = new Map<string, TargetBuild>();
    const rebuiltDeps: string[] = [];
    let report: WhyReport | undefined;
    for (const name of order) {
      const target = open.project.targets.get(name)!;
      if (target.deps.some((d) => !known.has(d.target))) {
        rebuiltDeps.push(name);
        continue;
      }
      const plan = await planAction(ctx, target, known);
      const entry = await open.store.getAction(plan.key);
      if (name !== req.target) {
        if (!entry) {
          rebuiltDeps.push(name);
          continue;
        }
        const result = await open.store.getJson<ActionResult>(entry.result);
        known.set(name, { target: name, key: plan.key, result } as TargetBuild);
        continue;
      }
      const current: BuildRecord = {
        format: 'airlock.build-record/v1',
        target: name,
        key: plan.key,
        action: plan.action,
        inputs: plan.inputs,
        blobs: [],
      };
      const earlier =
        req.against === undefined
          ? open.records.lastBuild(open.project.root, name)
          : againstBuild(open.records, open.project.root, name, req.against);
      const prev = earlier
        ? await open.store.getJson<BuildRecord>(earlier.record).catch(() => undefined)
        : undefined;
      const changes = prev ? diffBuilds(prev, current) : [];
      const verdict = entry
        ? 'hit'
        : !prev
          ? 'no-record'
          : changes.length === 0
            ? 'evicted'
            : 'changed';
      const origin = entry ? open.records.origin(plan.key, entry.result) : undefined;
      report = {
        target: name,
        key: plan.key,
        ...(prev ? { previousKey: prev.key } : {}),
        ...(req.against !== undefined ? { against: req.against } : {}),
        ...(prev && earlier
          ? {
              previous: {
                ...(earlier.artifact ? { artifact: earlier.artifact } : {}),
                ...(earlier.sourceCommit ? { sourceCommit: earlier.sourceCommit } : {}),
              },
            }
          : {}),
        verdict,
        changes,
        rebuiltDeps,
        ...(origin
          ? {
              origin: {
                repository: origin.repository,
                signedBy: origin.signer,
                text: describeOrigin(origin),
              },
            }
          : {}),
      };
    }
    open.statCache.flush();
    if (!report) {
      const blocked = rebuiltDeps.filter((d) => d !== req.target);
      return {
        target: req.target,
        key: '' as Digest,
        verdict: 'changed',
        changes: blocked.map((d) => ({
          component: 'deps',
          detail: `dependency "${d}" is not cached and would be rebuilt first`,
        })),
        rebuiltDeps: blocked,
      };
    }
    return report;
  } finally {
    open.close();
  }
}

/** The recorded build of `target` that `against` names (artifact digest, action key or commit). */
function againstBuild(
  records: BuildRecords,
  root: string,
  target: string,
  against: string,
): BuildHistoryEntry {
  const found = records.findBuild(root, target, against);
  if (found) return found;
  throw new AirlockError<BuildErrorCode>(
    'BUILD_NOT_FOUND',
    `no recorded build of target "${target}" has the artifact, action key or source commit ${against}`,
    {
      hint: 'Pass the artifact digest (sha256:…) or the git commit of an earlier build of this target in this store; `store gc` forgets builds older than its retention except the latest.',
      details: { target, against },
    },
  );
}
