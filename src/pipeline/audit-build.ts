import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import type { AfterBuild } from '../builder/executor.js';
import { findOnPath } from '../builder/toolchain.js';
import { lockedPurl } from '../audit/lineage.js';
import type { Clock } from '../core/clock.js';
import type { AirlockEvent, EventSink } from '../core/events.js';
import type { AuditLog } from '../audit/index.js';
import type { AuditEnv } from './audit.js';
import type { OpenWorkspace } from './context.js';

const run = promisify(execFile);

/** The git facts a build event records: remote, HEAD and whether the work tree was dirty. */
export interface GitState {
  repository?: string;
  commit?: string;
  dirty?: boolean;
}

/** Reads the git state of `root` (nothing outside a git work tree). */
export async function gitState(root: string): Promise<GitState> {
  const git = async (...args: string[]): Promise<string | undefined> => {
    try {
      const { stdout } = await run('git', ['-C', root, ...args], {
        timeout: 30_000,
        maxBuffer: 1 << 26,
      });
      return stdout;
    } catch {
      return undefined;
    }
  };
  const commit = (await git('rev-parse', '--verify', '-q', 'HEAD'))?.trim();
  if (!commit) return {};
  const repository = (await git('config', '--get', 'remote.origin.url'))?.trim();
  const status = await git('status', '--porcelain', '--untracked-files=normal');
  return {
    commit,
    ...(repository ? { repository } : {}),
    ...(status !== undefined ? { dirty: status.trim() !== '' } : {}),
  };
}

/** The purl of a Debian package version: `pkg:deb/debian/nodejs@18.19.0%2Bdfsg-6~deb12u2`. */
export function debPurl(name: string, version: string): string {
  return `pkg:deb/debian/${encodeURIComponent(name)}@${encodeURIComponent(version)}`;
}

/** The Debian package (name and version) that installed `file`, undefined when none did. */
export async function debianPackageOf(
  file: string,
): Promise<{ name: string; version: string } | undefined> {
  const query = async (...args: string[]): Promise<string | undefined> => {
    try {
      return (await run('dpkg-query', args, { timeout: 30_000 })).stdout;
    } catch {
      return undefined; // not a Debian system, or no package owns the path
    }
  };
  // Merged /usr: dpkg may have registered /bin/dash for what is now /usr/bin/dash.
  for (const path of file.startsWith('/usr/') ? [file, file.slice(4)] : [file]) {
    const owners = (await query('-S', path))
      ?.split('\n')
      .filter((l) => l !== '' && !l.startsWith('diversion by'))
      .map((l) => l.slice(0, l.lastIndexOf(': ')));
    const pkg = owners?.[0]?.split(', ')[0];
    if (pkg === undefined || pkg === '') continue;
    const version = (await query('-W', '-f', '${Version}', pkg))?.trim();
    if (version) return { name: pkg.replace(/:[a-z0-9]+$/, ''), version };
  }
  return undefined;
}

/**
 * The Debian packages of a target's host tools, as purls (the lineage index
 * answers `--uses pkg:deb/debian/nodejs`). Each binary's package is asked of
 * dpkg once and noted by the binary's digest, so a later build costs one lookup.
 */
async function hostToolComponents(
  log: AuditLog,
  names: readonly string[],
  toolchain: readonly { name: string; digest: string }[],
): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) {
    const digest = toolchain.find((t) => t.name === name)?.digest;
    if (digest === undefined) continue;
    let purl = log.hostPackage(digest);
    if (purl === undefined) {
      const found = findOnPath(name);
      const pkg = found === undefined ? undefined : await debianPackageOf(realpathSync(found));
      purl = pkg === undefined ? '' : debPurl(pkg.name, pkg.version);
      log.noteHostPackage(digest, purl);
    }
    if (purl !== '') out.push(purl);
  }
  return out;
}

/**
 * The components of the dependency targets' artifacts (found by their
 * output trees in the log): an artifact contains what its dependencies lock.
 */
function dependencyComponents(
  log: AuditLog,
  deps: readonly { target: string; outputs: string }[],
): string[] {
  const out = new Set<string>();
  for (const d of deps) {
    const builds = log.list({ subject: d.outputs, types: ['build'], limit: 1 });
    const artifact = (builds[0]?.entry.data as { artifact?: string } | undefined)?.artifact;
    if (artifact) for (const p of log.componentsOf(artifact)) out.add(p);
  }
  return [...out];
}

/**
 * The audit side of a build (the source's git state read first): an event sink that notes when each target
 * started (running, or queued for a cache hit that never runs), and the
 * after-build hook that appends one build event per target.
 */
export async function auditBuild(
  open: OpenWorkspace,
  events: EventSink,
  env: AuditEnv = {},
): Promise<{
  events: EventSink;
  afterBuild: (done: AfterBuild) => Promise<void>;
  /** Closes the log if a target opened it; the build calls it once at the end. */
  close: () => void;
  /** Whether any target appended an entry. */
  appended: () => boolean;
}> {
  const clock: Clock = env.clock ?? open.store.clock;
  const started = new Map<string, number>();
  // Read before anything builds: outputs written into the project must not make it look dirty.
  const g = await gitState(open.project.root);
  const sink: EventSink = (e: AirlockEvent) => {
    if (
      e.type === 'target' &&
      (e.state === 'running' || (e.state === 'queued' && !started.has(e.target)))
    )
      started.set(e.target, clock.now());
    events(e);
  };
  let log: AuditLog | undefined;
  let appendedAny = false;
  const afterBuild = async ({ build, action, cached }: AfterBuild): Promise<void> => {
    // The log (and its schemas) load only once a target has something to record,
    // and it is opened once for the whole build.
    const { auditActor, openAuditLog } = await import('./audit.js');
    log ??= openAuditLog(open.store);
    const last = open.records.lastBuild(open.project.root, build.target);
    const hostTools = await hostToolComponents(
      log,
      open.project.targets.get(build.target)?.toolchain.host ?? [],
      action.toolchain,
    );
    const finishedAt = clock.now();
    log.append(
      {
        type: 'build',
        data: {
          project: open.project.name,
          target: build.target,
          ...(g.repository ? { repository: g.repository } : {}),
          ...(g.commit ? { sourceCommit: g.commit } : {}),
          ...(g.dirty !== undefined ? { dirty: g.dirty } : {}),
          actionKey: build.key,
          cache: cached ? 'hit' : 'miss',
          ...(build.origin
            ? { remote: { repository: build.origin.repository, signer: build.origin.signer } }
            : {}),
          toolchain: action.toolchain.map((t) => ({ name: t.name, digest: t.digest })),
          sourceDateEpoch: action.sourceDateEpoch,
          artifact: build.manifest.digest,
          tag: build.tag,
          ...(last && last.key === build.key ? { record: last.record } : {}),
          outputTree: build.result.outputs.tree,
          startedAt: started.get(build.target) ?? finishedAt,
          finishedAt,
        },
      },
      { time: finishedAt, actor: auditActor(env) },
      [
        ...(action.locked ?? []).map(lockedPurl),
        ...hostTools,
        ...dependencyComponents(log, action.deps),
      ],
    );
    appendedAny = true;
  };
  const close = (): void => {
    log?.close();
    log = undefined;
  };
  return { events: sink, afterBuild, close, appended: () => appendedAny };
}
