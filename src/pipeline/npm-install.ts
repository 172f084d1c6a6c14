import { copyFile, link, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { TargetConfig, ProjectConfig } from '../config/index.js';
import { digestJson } from '../core/canonical.js';
import { digestHex, sha256, type Digest } from '../core/digest.js';
import { compareBytes } from '../core/compare.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { treeDigest } from '../core/tree.js';
import { resolveHostTools, type HostEnv } from '../builder/toolchain.js';
import type { BuildErrorCode } from '../builder/errors.js';
import { hashTree } from '../hash/inputs.js';
import { mapLimit } from '../registry/retry.js';
import type { StatCache } from '../hash/stat-cache.js';
import { walkGlobs } from '../hash/walk.js';
import type { Lock, LockErrorCode, NpmLockfile } from '../lock/index.js';
import { SANDBOX_PROFILE } from '../sandbox/profile.js';
import type { Store } from '../store/index.js';
import type { BuildContext } from '../builder/context.js';
import {
  assertFetched,
  lockHooks,
  lockedBlobsOf,
  readLock,
  readNpmrc,
  type BuildLockOptions,
} from './lock.js';

/*
 * Installed npm trees, one per install action, shared by every target whose
 * package-lock, manifests, allowed scripts and toolchain are the same:
 *
 *   $AIRLOCK_HOME/airlock/v1/npm/<hex of the install key>/
 *     node_modules/          the tree `npm ci --ignore-scripts` gives (never changed after): written
 *                            from the store tarballs (src/lock/npm-tree.ts), or by npm in the sandbox
 *     install.json           {"format":"airlock.npm-install/v2","key":"sha256:…","tree":"sha256:…"}
 */

export const NPM_INSTALL_FORMAT = 'airlock.npm-install/v2';

/** What an install gives a target: the tree, where it is on the host, and where it goes in /src. */
export interface NpmInstall {
  key: Digest;
  tree: Digest;
  dir: string;
  /** `node_modules` next to the package-lock, relative to the project root. */
  dest: string;
  /** `dir` once its tree is verified to be `tree` (re-installed if it was altered). */
  ready: () => Promise<string>;
  /**
   * The directories of `dir` bound into the sandbox, each at the same path
   * under `dest` (a pnpm workspace: `node_modules` and each member's);
   * absent: `dir` itself is bound at `dest`.
   */
  binds?: string[];
}

export interface InstallContext {
  project: ProjectConfig;
  store: Store;
  statCache: StatCache;
  events: EventSink;
  lock: Lock;
  npmLocks: ReadonlyMap<string, NpmLockfile>;
  /** Where node, npm and pnpm are found (`PATH`, `HOME`). */
  env: HostEnv;
  signal?: AbortSignal;
}

/** The package.json files npm ci reads: the root one and each workspace member's. */
function manifestsOf(lockfile: NpmLockfile, lockDir: string): string[] {
  const members = lockfile.links
    .map((l) => l.target)
    .filter((t) => !t.startsWith('/') && !t.split('/').includes('..'));
  return ['package.json', ...members.map((m) => `${m}/package.json`)].map((p) =>
    lockDir === '.' ? p : `${lockDir}/${p}`,
  );
}

/**
 * A hook for the build: installs (or reuses) the `node_modules` of a target's
 * package-lock, offline inside the sandbox, from fetched tarballs only.
 * Install scripts run only for the packages the target allows.
 */
export function npmInstaller(
  ctx: InstallContext,
): (target: TargetConfig) => Promise<NpmInstall | undefined> {
  const memo = new Map<string, Promise<NpmInstall>>();
  return (target) => {
    if (target.npm === undefined) return Promise.resolve(undefined);
    const id = `${target.npm.lockfile}\0${target.npm.installer}\0${[...target.npm.scripts].sort().join('\0')}`;
    let p = memo.get(id);
    if (!p) {
      p = install(ctx, target);
      memo.set(id, p);
    }
    return p;
  };
}

async function install(ctx: InstallContext, target: TargetConfig): Promise<NpmInstall> {
  const npm = target.npm!;
  const lockfile = ctx.npmLocks.get(npm.lockfile)!;
  if (lockfile.manager === 'pnpm') {
    const { pnpmInstall } = await import('./pnpm-install.js');
    return pnpmInstall(ctx, target, lockfile);
  }
  const lockDir = posix.dirname(npm.lockfile);
  const dest = lockDir === '.' ? 'node_modules' : `${lockDir}/node_modules`;
  const manifests = manifestsOf(lockfile, lockDir);
  const read = async (rel: string): Promise<Buffer> =>
    readFile(join(ctx.project.root, ...rel.split('/')));
  const texts = new Map<string, Buffer>();
  for (const rel of [npm.lockfile, ...manifests]) texts.set(rel, await read(rel));
  assertScriptsDecided(target, lockfile);
  const tools = await resolveHostTools(['node', 'npm'], ctx.statCache, ctx.env);
  const npmPackage = await readFile(join(dirname(dirname(tools[1]!.path)), 'package.json')).catch(
    () => Buffer.from(''),
  );
  const used = new Set(lockfile.packages.map((p) => p.integrity));
  const tarballs = ctx.lock.npm.filter((e) => used.has(e.integrity));
  const key = digestJson({
    format: NPM_INSTALL_FORMAT,
    files: Object.fromEntries(
      [...texts].map(([p, b]) => [p.slice(lockDir === '.' ? 0 : lockDir.length + 1), sha256(b)]),
    ),
    tarballs: tarballs.map((e) => e.integrity).sort(),
    scripts: [...npm.scripts].sort(),
    installer: npm.installer,
    registry: (await readNpmrc(ctx.project.root)).registry ?? null,
    toolchain: [
      ...tools.map((t) => ({ name: t.name, digest: t.digest })),
      { name: 'npm-package', digest: sha256(npmPackage) },
    ],
    platform: { os: process.platform, arch: process.arch },
    sandbox: digestJson(SANDBOX_PROFILE),
  });
  const home = join(ctx.store.paths.npm, digestHex(key));
  const dir = join(home, 'node_modules');
  return reuseOrInstall(ctx, {
    key,
    home,
    dir,
    dest,
    what: `npm install of ${npm.lockfile}`,
    fresh,
  });

  /**
   * Writes the tree from the store tarballs when the lock allows it exactly
   * (no install scripts to run, nothing npm would do differently);
   * otherwise npm installs it in the sandbox. Returns the tree's digest.
   */
  async function fresh(): Promise<Digest> {
    if (npm.installer === 'airlock' && npm.scripts.length === 0) {
      const written = await fromStore();
      if (written !== undefined) return written;
    }
    return withNpm();
  }

  /** The tree written straight from the store, hashed while written; undefined when npm must install. */
  async function fromStore(): Promise<Digest | undefined> {
    const registry = (await readNpmrc(ctx.project.root)).registry;
    const manifest = lockDir === '.' ? 'package.json' : `${lockDir}/package.json`;
    const { planNpmTree } = await import('../lock/npm-tree.js');
    const planned = planNpmTree(
      texts.get(npm.lockfile)!.toString('utf8'),
      texts.get(manifest)!.toString('utf8'),
      {
        os: process.platform,
        cpu: process.arch,
        get libc() {
          return linuxLibc();
        },
      },
      registry,
    );
    const byIntegrity = new Map(tarballs.map((e) => [e.integrity, e]));
    const fallBack = (why: string): undefined => {
      ctx.events({
        type: 'log',
        level: 'info',
        target: target.name,
        message: `${npm.lockfile}: installing with npm in the sandbox, not from the store: ${why}`,
      });
      return undefined;
    };
    if (!planned.plan) {
      const more =
        planned.unsupported.length > 3 ? ` (and ${planned.unsupported.length - 3} more)` : '';
      return fallBack(`${planned.unsupported.slice(0, 3).join('; ')}${more}`);
    }
    const { NotReproducible, writeNpmTree } = await import('./npm-tree.js');
    const work = await ctx.store.ownedTempDir('npm');
    try {
      const entries = await writeNpmTree({
        dir: work,
        plan: planned.plan,
        tarball: (integrity) => {
          const e = byIntegrity.get(integrity);
          if (e?.sha256 === undefined)
            throw new AirlockError<LockErrorCode>(
              'INPUT_NOT_FETCHED',
              `${e ? `${e.name}@${e.version}` : integrity} of ${npm.lockfile} was never fetched`,
              { hint: 'Run `airlock fetch`.' },
            );
          return { path: ctx.store.blobPath(e.sha256), sha256: e.sha256 };
        },
        verify: async (t) => {
          await ctx.store.verifiedPath(t.sha256);
        },
        sourceExists: (rel) =>
          lstat(
            join(ctx.project.root, ...(lockDir === '.' ? [] : [lockDir]), ...rel.split('/')),
          ).then(
            () => true,
            () => false,
          ),
      });
      const tree = treeDigest(entries);
      await rm(home, { recursive: true, force: true });
      await mkdir(home, { recursive: true });
      await rename(join(work, 'node_modules'), dir);
      await writeFile(
        join(home, 'install.json'),
        JSON.stringify({ format: NPM_INSTALL_FORMAT, key, tree }),
      );
      ctx.events({
        type: 'log',
        level: 'info',
        target: target.name,
        message: `installed ${npm.lockfile} from the store (${planned.plan.packages.length} packages)`,
      });
      return tree;
    } catch (err) {
      if (err instanceof NotReproducible) return fallBack(err.reason);
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Installs with `npm ci` in the sandbox (a temp directory), then moves the tree to `dir`; returns its digest. */
  async function withNpm(): Promise<Digest> {
    const work = await ctx.store.ownedTempDir('npm');
    try {
      const src = join(work, 'src');
      const cache = join(src, '.airlock-npm-cache');
      for (const [rel, bytes] of texts) {
        const to = join(src, ...rel.slice(lockDir === '.' ? 0 : lockDir.length + 1).split('/'));
        await mkdir(dirname(to), { recursive: true });
        await writeFile(to, bytes);
      }
      // The npm cache, content only: pacote reads a tarball by its integrity before any request.
      // Each tarball re-verified from the store (a few at once: hashing overlaps the reads).
      await mapLimit(tarballs, 4, async (e) => {
        if (e.sha256 === undefined)
          throw new AirlockError<BuildErrorCode>(
            'STEP_FAILED',
            `${e.name}@${e.version} was never fetched`,
            {
              hint: 'Run `airlock fetch`.',
            },
          );
        const blob = await ctx.store.verifiedPath(e.sha256);
        const hex = Buffer.from(sri512(e.integrity), 'base64').toString('hex');
        const to = join(
          cache,
          '_cacache',
          'content-v2',
          'sha512',
          hex.slice(0, 2),
          hex.slice(2, 4),
          hex.slice(4),
        );
        await mkdir(dirname(to), { recursive: true });
        await link(blob, to).catch(async (err: unknown) => {
          if (errnoCode(err) === 'EEXIST') return;
          await copyFile(blob, to);
        });
      });
      // The registry npm would use online (it shapes the hidden lockfile); never its tokens.
      const registry = (await readNpmrc(ctx.project.root)).registry;
      const flags = `${registry ? `--registry ${shellQuote(registry)} ` : ''}--offline --no-audit --no-fund --update-notifier=false --cache /src/.airlock-npm-cache --logs-dir /tmp --userconfig /dev/null`;
      const command = [
        `npm ci --ignore-scripts ${flags}`,
        ...npm.scripts.map((name) => `npm rebuild ${shellQuote(name)} ${flags}`),
      ].join(' && ');
      const { runInSandbox } = await import('../sandbox/run.js');
      const run = await runInSandbox({
        workDir: src,
        inputs: [],
        tools: [],
        env: {},
        sourceDateEpoch: 315532800,
        command,
        timeoutMs: target.limits.timeoutSeconds * 1000,
        maxOutputBytes: target.limits.logBytes,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if (run.exitCode !== 0)
        throw new AirlockError<BuildErrorCode>(
          'STEP_FAILED',
          `target "${target.name}": the offline npm install of ${npm.lockfile} exited with status ${run.exitCode}\n${Buffer.concat([run.stdout, run.stderr]).toString('utf8').trimEnd().split('\n').slice(-20).join('\n')}`,
          {
            hint: 'Run `airlock fetch` if a package is missing; a package whose install script is needed goes in targets.<name>.npm.scripts.',
            details: { target: target.name, lockfile: npm.lockfile },
          },
        );
      const built = join(src, 'node_modules');
      await mkdir(built, { recursive: true });
      const tree = await treeOf(built, ctx.statCache);
      await rm(home, { recursive: true, force: true });
      await mkdir(home, { recursive: true });
      await rename(built, dir);
      await writeFile(
        join(home, 'install.json'),
        JSON.stringify({ format: NPM_INSTALL_FORMAT, key, tree }),
      );
      ctx.events({
        type: 'log',
        level: 'info',
        target: target.name,
        message: `installed ${npm.lockfile} offline (${tarballs.length} packages)`,
      });
      return tree;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** What `reuseOrInstall` needs of one install. */
export interface InstallJob {
  key: Digest;
  /** `airlock/v1/npm/<hex of key>/`: holds `install.json` and the installed tree. */
  home: string;
  /** The installed tree inside `home`. */
  dir: string;
  dest: string;
  binds?: string[];
  /** `npm install of <lockfile>`, for messages. */
  what: string;
  /** Installs into `dir` afresh (writing install.json); returns the tree digest. */
  fresh: () => Promise<Digest>;
}

/**
 * The install recorded under `job.home` when its key matches (its tree put in
 * action keys as recorded, verified only when a sandbox is about to see it and
 * installed again if it was altered), else a fresh install.
 */
export async function reuseOrInstall(
  ctx: { statCache: StatCache; events: EventSink },
  job: InstallJob,
): Promise<NpmInstall> {
  const { key, home, dir, dest, fresh } = job;
  const binds = job.binds ? { binds: job.binds } : {};
  const known = await readFile(join(home, 'install.json'), 'utf8').then(
    (t) => JSON.parse(t) as { key?: string; tree?: Digest },
    () => undefined,
  );
  if (known?.key === key && known.tree !== undefined) {
    // The recorded tree goes into action keys as is; it is verified only when
    // a sandbox is about to see it (a cache hit never reads node_modules).
    const recorded = known.tree;
    let checked: Promise<string> | undefined;
    const ready = (): Promise<string> =>
      (checked ??= (async () => {
        if ((await treeOf(dir, ctx.statCache)) === recorded) return dir;
        await rm(home, { recursive: true, force: true });
        const again = await fresh();
        if (again !== recorded)
          throw new AirlockError<BuildErrorCode>(
            'STEP_FAILED',
            `the offline ${job.what} on disk was altered, and installing it again gave tree ${again} instead of ${recorded}`,
            { hint: 'Build again: the new install is kept and used.' },
          );
        return dir;
      })());
    ctx.events({ type: 'log', level: 'debug', message: `${job.what}: cached (${recorded})` });
    return { key, tree: recorded, dir, dest, ...binds, ready };
  }
  const tree = await fresh();
  return { key, tree, dir, dest, ...binds, ready: () => Promise.resolve(dir) };
}

/**
 * Fails closed on install scripts: every locked package that has one must be
 * named in `npm.scripts` (it runs) or `npm.skipScripts` (knowingly not run);
 * the error names each undecided package and both keys.
 */
export function assertScriptsDecided(target: TargetConfig, lockfile: NpmLockfile): void {
  const npm = target.npm!;
  const decided = new Set([...npm.scripts, ...npm.skipScripts]);
  const undecided = [
    ...new Set(
      lockfile.packages
        .filter((p) => p.hasInstallScript && !decided.has(p.name))
        .map((p) => `${p.name}@${p.version}`),
    ),
  ].sort(compareBytes);
  if (undecided.length === 0) return;
  const names = [...new Set(undecided.map((p) => p.slice(0, p.lastIndexOf('@'))))];
  const list = names.map((n) => JSON.stringify(n)).join(', ');
  throw new AirlockError<LockErrorCode>(
    'INSTALL_SCRIPT_UNDECIDED',
    `target "${target.name}": ${undecided.join(', ')} ${undecided.length === 1 ? 'has an install script' : 'have install scripts'} that ${target.name}'s config neither allows nor skips`,
    {
      hint: `Add ${list} to targets.${target.name}.npm.scripts to run ${names.length === 1 ? 'its script' : 'their scripts'} in the sandbox (offline), or to targets.${target.name}.npm.skipScripts if the build does not need ${names.length === 1 ? 'it' : 'them'}.`,
      details: { target: target.name, lockfile: npm.lockfile, packages: undecided },
    },
  );
}

/** The Merkle digest of an installed tree (every file, dotfiles and .bin links included). */
export async function treeOf(dir: string, cache: StatCache): Promise<Digest> {
  const { matched } = await walkGlobs(dir, ['**']);
  return treeDigest(await hashTree(dir, matched, cache));
}

/** The C library npm-install-checks reports on Linux: glibc when Node was built against it. */
function linuxLibc(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })
    ?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

function sri512(integrity: string): string {
  for (const part of integrity.split(/\s+/))
    if (part.startsWith('sha512-')) return part.slice(7).split('?')[0]!;
  return '';
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * What the build, `why` and `repro` add to a build context for locked inputs:
 * the lock entries in each key and the offline npm install. The lock is
 * checked (frozen) or brought up to date from local files first, and every
 * locked input must already be in the store (or is fetched, with `fetch`).
 */
export async function lockedInputHooks(
  open: { project: ProjectConfig; store: Store; statCache: StatCache; env: HostEnv },
  events: EventSink,
  opts: BuildLockOptions & {
    fetch?: (() => Promise<unknown>) | undefined;
    signal?: AbortSignal | undefined;
  },
): Promise<Pick<BuildContext, 'lockedInputs' | 'lockedBlobs' | 'npmInstall' | 'lockedFiles'>> {
  const locking = await lockHooks(open.project, { ...opts, events });
  if (!locking.lock || !locking.lockedInputs) return {};
  let lock = locking.lock;
  if (opts.fetch) {
    await opts.fetch();
    lock = (await readLock(open.project)) ?? lock; // fetch records each tarball's sha256
  } else await assertFetched(open.store, lock);
  const { filePlacer } = await import('./locked-files.js');
  const npmLocks = locking.npmLocks ?? new Map<string, NpmLockfile>();
  return {
    lockedInputs: locking.lockedInputs,
    lockedBlobs: (t) => lockedBlobsOf(lock, npmLocks, t),
    lockedFiles: filePlacer({
      project: open.project,
      store: open.store,
      statCache: open.statCache,
      lock,
    }),
    npmInstall: npmInstaller({
      project: open.project,
      store: open.store,
      statCache: open.statCache,
      events,
      lock,
      npmLocks,
      env: open.env,
      ...(opts.signal ? { signal: opts.signal } : {}),
    }),
  };
}
