import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readTarGz } from '../archive/index.js';
import { describeDifference, diffTrees, type TreeDifference } from '../builder/compare.js';
import type { ActionResult } from '../builder/action.js';
import {
  buildTarget,
  describeOrigin,
  planAction,
  type RemoteCache,
  type TargetBuild,
} from '../builder/executor.js';
import { buildGraph, defaultJobs, throwIfFailed } from '../builder/scheduler.js';
import { planOrder } from '../config/plan.js';
import { findLibfaketime } from '../sandbox/index.js';
import type { Digest } from '../core/digest.js';
import type { EventSink } from '../core/events.js';
import { registryHooks, withRunEnv, type RemoteBuildOptions } from './build-remote.js';
import { lockedInputHooks } from './npm-install.js';
import { buildContext, openWorkspace, type Workspace } from './context.js';

const run = promisify(execFile);

export interface ReproRequest extends Workspace, RemoteBuildOptions {
  target: string;
  /** Use diffoscope when installed (default true). */
  diffoscope?: boolean;
}

export interface ReproReport {
  target: string;
  /** Build A's artifact: the subject of the reproducibility attestation. */
  artifact: Digest;
  /** The unsigned reproducibility statement attached to it (`airlock sign` signs it), when the store holds the artifact. */
  attestation?: Digest;
  reproducible: boolean;
  a: { outputTree: Digest; layer: Digest };
  b: { outputTree: Digest; layer: Digest };
  /** What the second build varied. */
  varied: string[];
  differences: (TreeDifference & { diff?: string })[];
  /**
   * What the action caches hold for the same action key, compared with build
   * A: a cached tree that differs is a poisoned (or non-reproducible) entry.
   */
  cache: {
    source: 'local' | 'remote';
    outputTree: Digest;
    matches: boolean;
    /** Where a remote-origin entry came from and who signed it. */
    origin?: string;
    /** True when the mismatching local entry was dropped (the next build rebuilds). */
    dropped?: boolean;
  }[];
  /** False when some cache holds another output tree for this action. */
  cacheMatches: boolean;
}

/**
 * `airlock repro TARGET`: builds the target twice without the cache, the
 * second time under varied conditions the sandbox must neutralise (host
 * environment, host path of the sources, umask, clock shifted by days,
 * staging order, hostname), and compares the outputs file by file.
 */
export async function runRepro(req: ReproRequest): Promise<ReproReport> {
  const open = await openWorkspace(req);
  const scratch = await mkdtemp(join(open.store.tmpDir, 'repro-'));
  try {
    const order = planOrder(open.project, [req.target]);
    const target = open.project.targets.get(req.target)!;
    // Toolchain images resolve once for all three contexts; deps may use the remote cache.
    const locked = await lockedInputHooks(open, req.events, { readOnly: true, signal: req.signal });
    const hooks = {
      ...(await registryHooks(
        open.project,
        open.store,
        withRunEnv(req, open.env),
        req.events,
        open.statCache,
      )),
      ...locked,
    };
    const sig = req.signal ? { signal: req.signal } : {};
    const depsCtx = { ...buildContext(open, req.events, sig), ...hooks };
    // Shared too: the memo, so a warning (no git, say) is given once, not three times.
    const imageRoots = {
      imageRoots: hooks.imageRoots,
      imageBases: hooks.imageBases,
      memo: depsCtx.memo,
      ...locked,
    };
    const summary = await buildGraph(
      depsCtx,
      order.filter((n) => n !== req.target),
      defaultJobs(),
    );
    throwIfFailed(summary, req.signal);
    const deps = new Map<string, TargetBuild>(summary.builds);

    req.events({
      type: 'log',
      level: 'info',
      message: `repro ${req.target}: build A (normal conditions)`,
    });
    const a = await buildTarget(
      {
        ...buildContext(open, req.events, {
          useCache: false,
          materialize: false,
          record: false,
          ...sig,
        }),
        ...imageRoots,
      },
      target,
      deps,
    );

    // Build B reads a copy of the sources at another host path.
    const copyRoot = join(scratch, 'elsewhere', `copy-of-${open.project.name}`);
    const plan = await planAction(depsCtx, target, deps);
    for (const e of plan.inputs) {
      const to = join(copyRoot, e.path);
      await mkdir(dirname(to), { recursive: true });
      if (e.kind === 'file') await copyFile(join(open.project.root, e.path), to);
      else await symlink(await readlink(join(open.project.root, e.path)), to);
    }
    const varied = [
      'host environment variables',
      `host path of the sources (${copyRoot})`,
      'umask 077',
      'reversed staging order',
      'hostname',
    ];
    // The clock shift goes in through /etc/ld.so.preload and /etc/faketimerc,
    // not LD_PRELOAD/FAKETIME, so a step that records its environment sees no
    // difference (except FAKETIME_SHARED, which libfaketime 0.9.10 sets itself).
    const etcFiles: { name: string; source: string }[] = [];
    const libfaketime = findLibfaketime();
    if (libfaketime !== undefined) {
      const etc = join(scratch, 'etc');
      await mkdir(etc);
      await writeFile(join(etc, 'ld.so.preload'), `${libfaketime}\n`);
      await writeFile(join(etc, 'faketimerc'), '+3d\n');
      etcFiles.push(
        { name: 'ld.so.preload', source: join(etc, 'ld.so.preload') },
        { name: 'faketimerc', source: join(etc, 'faketimerc') },
      );
      varied.push('clock shifted by +3 days (libfaketime)');
    } else {
      req.events({
        type: 'log',
        level: 'warn',
        message: 'libfaketime not installed: the clock is not varied (apt-get install faketime)',
      });
    }
    req.events({
      type: 'log',
      level: 'info',
      message: `repro ${req.target}: build B (varied: ${varied.join(', ')})`,
    });
    // Host noise and the umask go in through the sandbox spec (bwrap's own
    // environment and the launcher's umask), never into this process: two
    // use-cases can run side by side in one process.
    const hostEnv = {
      AIRLOCK_REPRO_NOISE: String(process.pid),
      LANG: 'tr_TR.UTF-8',
      TZ: 'Asia/Kathmandu',
    };
    const b = await buildTarget(
      {
        ...buildContext(open, req.events, {
          useCache: false,
          materialize: false,
          record: false,
          sourceRoot: copyRoot,
          ...sig,
          variant: { reverseInputs: true, hostname: 'repro-b', etcFiles, hostEnv, umask: 0o077 },
        }),
        ...imageRoots,
      },
      target,
      deps,
    );

    const differences: ReproReport['differences'] = diffTrees(
      a.result.outputs.entries,
      b.result.outputs.entries,
    );
    if (differences.length > 0) {
      const contents = async (layer: Digest): Promise<Map<string, Buffer | undefined>> => {
        const entries = await readTarGz(await open.store.verifiedPath(layer), {
          maxContent: 1 << 20,
        });
        return new Map(entries.map((e) => [e.path, 'content' in e ? e.content : undefined]));
      };
      const ca = await contents(a.result.outputs.layer.digest);
      const cb = await contents(b.result.outputs.layer.digest);
      const useDiffoscope = req.diffoscope !== false && (await hasDiffoscope());
      for (const d of differences) {
        const x = ca.get(d.path);
        const y = cb.get(d.path);
        if (!x || !y) continue;
        d.diff = useDiffoscope ? await diffoscope(scratch, d.path, x, y) : describeDifference(x, y);
      }
    }
    const cache = await compareWithCaches(open, hooks.remoteCache, a, req.events);
    // The attestation is attached to build A's artifact when the store holds it
    // (a target built before); otherwise there is nothing in the store to attach to.
    let attestation: Digest | undefined;
    if (await open.store.has(a.manifest.digest)) {
      const { attachStatement } = await import('./attestations.js');
      const { buildReproAttestation } = await import('../attest/index.js');
      const attached = await attachStatement(
        open.store,
        a.manifest,
        buildReproAttestation({
          artifact: { name: a.tag, digest: a.manifest.digest },
          a: { outputTree: a.result.outputs.tree, layer: a.result.outputs.layer.digest },
          b: { outputTree: b.result.outputs.tree, layer: b.result.outputs.layer.digest },
          variations: varied,
          differences: differences.map(
            (d) => `${d.path}: ${d.a ?? 'missing'} → ${d.b ?? 'missing'}`,
          ),
        }),
      );
      attestation = attached.digest;
    } else {
      req.events({
        type: 'log',
        level: 'info',
        message: `${req.target}: artifact ${a.manifest.digest} is not in the store; run \`airlock build ${req.target}\` to attach the reproducibility attestation`,
      });
    }
    const reproducible =
      differences.length === 0 && a.result.outputs.tree === b.result.outputs.tree;
    const { recordAudit } = await import('./audit.js');
    const { PREDICATE } = await import('../attest/index.js');
    recordAudit(
      open.store,
      {
        type: 'repro',
        data: {
          target: req.target,
          actionKey: a.key,
          reproducible,
          ...(attestation ? { artifact: a.manifest.digest } : {}),
          differences: differences.length,
        },
      },
      req.audit,
    );
    if (attestation)
      recordAudit(
        open.store,
        {
          type: 'attestation',
          data: {
            artifact: a.manifest.digest,
            predicateType: PREDICATE.reproducibility,
            attachment: attestation,
            target: req.target,
          },
        },
        req.audit,
      );
    const { checkpointAfter } = await import('./audit.js');
    await checkpointAfter(open.store, open.project, req.audit, req.events);
    return {
      target: req.target,
      artifact: a.manifest.digest,
      ...(attestation ? { attestation } : {}),
      cache,
      cacheMatches: cache.every((c) => c.matches),
      reproducible,
      a: { outputTree: a.result.outputs.tree, layer: a.result.outputs.layer.digest },
      b: { outputTree: b.result.outputs.tree, layer: b.result.outputs.layer.digest },
      varied,
      differences,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    open.close();
  }
}

/**
 * Compares build A's output tree with what the local action cache, and the
 * remote cache when one is configured, hold for the same key. A mismatching
 * local entry is dropped so the next build rebuilds instead of trusting it.
 */
async function compareWithCaches(
  open: Awaited<ReturnType<typeof openWorkspace>>,
  remote: RemoteCache | undefined,
  a: TargetBuild,
  events: EventSink,
): Promise<ReproReport['cache']> {
  const out: ReproReport['cache'] = [];
  const treeOf = async (digest: Digest): Promise<Digest | undefined> =>
    (await open.store.getJson<ActionResult>(digest).catch(() => undefined))?.outputs?.tree;
  const local = await open.store.getAction(a.key);
  if (local) {
    const tree = await treeOf(local.result);
    const origin = open.records.origin(a.key, local.result);
    if (tree !== undefined) {
      const matches = tree === a.result.outputs.tree;
      if (!matches) {
        await open.store.deleteAction(a.key);
        open.records.setOrigin(a.key, local.result, undefined);
      }
      out.push({
        source: 'local',
        outputTree: tree,
        matches,
        ...(origin ? { origin: describeOrigin(origin) } : {}),
        ...(matches ? {} : { dropped: true }),
      });
    }
  }
  const hit = await remote?.fetch(a.key);
  if (hit) {
    const tree = await treeOf(hit.result);
    if (tree !== undefined)
      out.push({
        source: 'remote',
        outputTree: tree,
        matches: tree === a.result.outputs.tree,
        origin: describeOrigin(hit),
      });
  }
  for (const c of out.filter((c) => !c.matches)) {
    events({
      type: 'log',
      level: 'error',
      message: `the ${c.source} action cache holds output tree ${c.outputTree} for action ${a.key}${c.origin ? ` (${c.origin})` : ''}, but building it gives ${a.result.outputs.tree}`,
    });
  }
  return out;
}

async function hasDiffoscope(): Promise<boolean> {
  try {
    await run('diffoscope', ['--version']);
    return true;
  } catch {
    return false;
  }
}

async function diffoscope(scratch: string, path: string, a: Buffer, b: Buffer): Promise<string> {
  const dir = await mkdtemp(join(scratch, 'diffoscope-'));
  const base = path.replace(/[^A-Za-z0-9._-]/g, '_');
  await mkdir(join(dir, 'a'));
  await mkdir(join(dir, 'b'));
  await writeFile(join(dir, 'a', base), a);
  await writeFile(join(dir, 'b', base), b);
  try {
    const { stdout } = await run(
      'diffoscope',
      ['--no-progress', '--text', '-', join(dir, 'a', base), join(dir, 'b', base)],
      { maxBuffer: 1 << 22 },
    );
    return stdout;
  } catch (err) {
    const out = (err as { stdout?: string }).stdout;
    return typeof out === 'string' && out.length > 0 ? out : describeDifference(a, b);
  }
}
