import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AfterBuild } from '../builder/executor.js';
import { findGitDir, gitHead } from '../builder/sde.js';
import { findOnPath, pathOf } from '../builder/toolchain.js';
import { lockedPurl } from '../audit/lineage.js';
import { AuditLog } from '../audit/log.js';
import type { Clock } from '../core/clock.js';
import type { AirlockEvent, EventSink } from '../core/events.js';
import { auditActor, auditTail, type AuditEnv, type AuditTail } from './audit-env.js';
import { hostPackages } from './host-packages.js';
import type { OpenWorkspace } from './context.js';

const run = promisify(execFile);

/** The git facts a build event records: remote, HEAD and whether the work tree was dirty. */
export interface GitState {
  repository?: string;
  commit?: string;
  dirty?: boolean;
}

/** Runs `git -C root <args>`: its stdout, or undefined when git fails or is missing. */
export type GitRunner = (root: string, args: readonly string[]) => Promise<string | undefined>;

const runGit: GitRunner = async (root, args) => {
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

/**
 * Reads the git state of `root` (nothing outside a git work tree) with one
 * `git status`: HEAD and the origin URL are read from `.git` directly in a
 * plain repository; git answers them only for anything unusual (a worktree
 * or submodule, reftable, a config with includes).
 */
export async function gitState(root: string, git: GitRunner = runGit): Promise<GitState> {
  const dir = await gitDirOf(root);
  if (dir === null) return {}; // not a work tree: git is not asked at all
  const [commit, repository, status] = await Promise.all([
    dir === undefined
      ? git(root, ['rev-parse', '--verify', '-q', 'HEAD']).then((s) => s?.trim())
      : gitHead(root, dir),
    originUrl(root, dir, git),
    git(root, ['status', '--porcelain', '--untracked-files=normal']),
  ]);
  if (!commit) return {};
  return {
    commit,
    ...(repository ? { repository } : {}),
    ...(status !== undefined ? { dirty: status.trim() !== '' } : {}),
  };
}

/**
 * The `.git` directory of `root` as `findGitDir` finds it, except that git
 * is asked whenever GIT_DIR or GIT_CONFIG* is set (they change what git reads).
 */
async function gitDirOf(root: string): Promise<string | null | undefined> {
  if (Object.keys(process.env).some((k) => k === 'GIT_DIR' || k.startsWith('GIT_CONFIG')))
    return undefined;
  return findGitDir(root);
}

/** remote.origin.url from `<gitDir>/config` when it is plain; otherwise (or without a git dir) git's answer. */
async function originUrl(
  root: string,
  gitDir: string | undefined,
  git: GitRunner,
): Promise<string | undefined> {
  const text = gitDir ? await readFile(join(gitDir, 'config'), 'utf8').catch(() => '') : undefined;
  const plain = text === undefined ? undefined : plainOriginUrl(text);
  if (plain !== undefined) return plain ?? undefined;
  return (await git(root, ['config', '--get', 'remote.origin.url']))?.trim() || undefined;
}

/**
 * remote.origin.url of a git config text (the last one wins, as with
 * `git config --get`); null when it has none; undefined when the text has
 * anything this reader does not follow (includes, the old `[remote.origin]`
 * form, quoted or escaped values, continued lines), so git is asked instead.
 */
export function plainOriginUrl(text: string): string | null | undefined {
  if (/\\\s*$/m.test(text)) return undefined;
  let inOrigin = false;
  let url: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const m = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"([^"\\]*)")?\s*\]\s*(?:[#;].*)?$/.exec(line);
      if (!m) return undefined;
      const name = m[1]!.toLowerCase();
      if (name === 'include' || name === 'includeif' || name.includes('.')) return undefined;
      inOrigin = name === 'remote' && m[2] === 'origin';
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=(.*))?$/.exec(line);
    if (!kv) return undefined;
    if (!inOrigin || kv[1]!.toLowerCase() !== 'url') continue;
    const value = kv[2];
    if (value === undefined || /["\\]/.test(value)) return undefined;
    url = value.replace(/[#;].*$/, '').trim();
  }
  return url;
}

/** The purl of a Debian package version: `pkg:deb/debian/nodejs@18.19.0%2Bdfsg-6~deb12u2`. */
export function debPurl(name: string, version: string): string {
  return `pkg:deb/debian/${encodeURIComponent(name)}@${encodeURIComponent(version)}`;
}

/**
 * The Debian packages of a target's host tools, as purls (the lineage index
 * answers `--uses pkg:deb/debian/nodejs`), by binary digest into `known`. Each
 * binary's package is asked of dpkg once and noted in the log by its digest, so a
 * later build costs one lookup.
 */
async function hostToolPurls(
  log: AuditLog,
  tools: readonly { name: string; digest: string }[],
  known: Map<string, string>,
  envPath: string,
): Promise<void> {
  for (const { name, digest } of tools) {
    if (known.has(digest)) continue;
    let purl = log.hostPackage(digest);
    if (purl === undefined) {
      const found = findOnPath(name, envPath);
      const pkg = found === undefined ? undefined : await hostPackages.of(realpathSync(found));
      purl = pkg === undefined ? '' : debPurl(pkg.name, pkg.version);
      log.noteHostPackage(digest, purl);
    }
    known.set(digest, purl);
  }
}

/**
 * The audit side of a build: an event sink that notes when each target
 * started (running, or queued for a cache hit that never runs), the
 * after-build hook that notes one build event per target (appended at once
 * for a target that ran its steps, with the cache hits noted before it), and
 * `flush`, which appends the rest in one transaction (the build calls it once
 * at the end, also when a target failed). Only the log and the zod-free check
 * of build events load: a no-op build loads no schema, signing or registry code.
 */
export function auditBuild(
  open: OpenWorkspace,
  events: EventSink,
  env: AuditEnv = {},
  source: Promise<GitState> = gitState(open.project.root),
): {
  events: EventSink;
  afterBuild: (done: AfterBuild) => Promise<void>;
  /**
   * Appends the build events noted so far (one transaction) and closes the log
   * (opened once, at the build's first append);
   * says where the log's head and last checkpoint are when this build appended
   * anything (undefined when it appended nothing).
   */
  flush: () => Promise<AuditTail | undefined>;
} {
  const clock: Clock = env.clock ?? open.store.clock;
  const started = new Map<string, number>();
  const sink: EventSink = (e: AirlockEvent) => {
    if (
      e.type === 'target' &&
      (e.state === 'running' || (e.state === 'queued' && !started.has(e.target)))
    )
      started.set(e.target, clock.now());
    events(e);
  };
  const pending: { item: BuildEventItem }[] = [];
  const actor = auditActor(env);
  const afterBuild = ({ build, action, cached }: AfterBuild): Promise<void> => {
    const finishedAt = clock.now();
    const startedAt = started.get(build.target) ?? finishedAt;
    pending.push({
      item: {
        target: buildEventTarget(open, build, action),
        cached,
        ...(build.origin
          ? { remote: { repository: build.origin.repository, signer: build.origin.signer } }
          : {}),
        startedAt,
        finishedAt,
      },
    });
    // A target that ran its steps is recorded at once (with the cached ones noted
    // before it): a build killed later loses no record of work it did. Cache hits
    // wait for the end, so a no-op build appends in one transaction.
    return cached ? Promise.resolve() : append().then(() => {});
  };
  let appended: AuditTail | undefined;
  let writing: Promise<unknown> = Promise.resolve();
  // Opened at the first append and kept for the build (each append is its own
  // transaction); closed by flush.
  let log: AuditLog | undefined;
  const append = (): Promise<AuditTail | undefined> => {
    // One append at a time, in the order the targets finished.
    const next = writing.then(async () => {
      if (pending.length === 0) return appended;
      const g = await source;
      const noted = pending.splice(0);
      log ??= AuditLog.open(open.store.paths.auditDb);
      await appendBuildEvents(
        log,
        open.project.name,
        noted.map((p) => p.item),
        g,
        actor,
        pathOf(open.env),
      );
      return (appended = auditTail(log));
    });
    writing = next.catch(() => {});
    return next;
  };
  const flush = (): Promise<AuditTail | undefined> =>
    append().finally(() => {
      log?.close();
      log = undefined;
    });
  return { events: sink, afterBuild, flush };
}

/** One target's build event, less its git state, times and components (read when it is appended). */
export interface BuildEventTarget {
  target: string;
  actionKey: string;
  toolchain: { name: string; digest: string }[];
  /** The toolchain's host tools (their Debian packages become components). */
  hostTools: { name: string; digest: string }[];
  sourceDateEpoch: number;
  artifact: string;
  tag: string;
  /** The build record of this action key, when the target's history names it. */
  record?: string;
  outputTree: string;
  /** purls of the locked dependencies. */
  locked: string[];
  deps: { target: string; outputs: string }[];
}

/** What one build event records about a finished target. */
export function buildEventTarget(
  open: Pick<OpenWorkspace, 'project' | 'records'>,
  build: AfterBuild['build'],
  action: AfterBuild['action'],
): BuildEventTarget {
  const last = open.records.lastBuild(open.project.root, build.target);
  const hostNames = open.project.targets.get(build.target)?.toolchain.host ?? [];
  return {
    target: build.target,
    actionKey: build.key,
    toolchain: action.toolchain.map((t) => ({ name: t.name, digest: t.digest })),
    hostTools: action.toolchain
      .filter((t) => hostNames.includes(t.name))
      .map((t) => ({ name: t.name, digest: t.digest })),
    sourceDateEpoch: action.sourceDateEpoch,
    artifact: build.manifest.digest,
    tag: build.tag,
    ...(last && last.key === build.key ? { record: last.record } : {}),
    outputTree: build.result.outputs.tree,
    locked: (action.locked ?? []).map(lockedPurl),
    deps: action.deps.map((d) => ({ target: d.target, outputs: d.outputs })),
  };
}

/** One build event to append: the target, whether it was a cache hit, and when it ran. */
export interface BuildEventItem {
  target: BuildEventTarget;
  cached: boolean;
  remote?: { repository: string; signer: string };
  startedAt: number;
  finishedAt: number;
}

/**
 * Appends one build event per item to an open log, in one transaction: the
 * same entries whether the build ran (`auditBuild`) or a build stamp showed
 * it would be a no-op.
 */
export async function appendBuildEvents(
  log: AuditLog,
  project: string,
  items: readonly BuildEventItem[],
  g: GitState,
  actor: ReturnType<typeof auditActor>,
  /** The PATH host tools are found on (the run's). */
  envPath: string,
): Promise<void> {
  const hostPurls = new Map<string, string>();
  for (const i of items) await hostToolPurls(log, i.target.hostTools, hostPurls, envPath);
  log.appendAll(
    items.map(({ target: t, cached, remote, startedAt, finishedAt }) => ({
      event: {
        type: 'build',
        data: {
          project,
          target: t.target,
          ...(g.repository ? { repository: g.repository } : {}),
          ...(g.commit ? { sourceCommit: g.commit } : {}),
          ...(g.dirty !== undefined ? { dirty: g.dirty } : {}),
          actionKey: t.actionKey,
          cache: cached ? 'hit' : 'miss',
          ...(remote ? { remote } : {}),
          toolchain: t.toolchain,
          sourceDateEpoch: t.sourceDateEpoch,
          artifact: t.artifact,
          tag: t.tag,
          ...(t.record !== undefined ? { record: t.record } : {}),
          outputTree: t.outputTree,
          startedAt,
          finishedAt,
        },
      },
      at: { time: finishedAt, actor },
      // Read inside the append: a dependency built in this build is in the log by then.
      components: (l: AuditLog) => [
        ...t.locked,
        ...t.hostTools.map((h) => hostPurls.get(h.digest) ?? '').filter((p) => p !== ''),
        ...dependencyComponents(l, t.deps),
      ],
    })),
  );
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
