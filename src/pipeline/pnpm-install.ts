import { Readable } from 'node:stream';
import { copyFile, link, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { TargetConfig } from '../config/index.js';
import { readTarFile } from '../archive/index.js';
import { digestJson } from '../core/canonical.js';
import { compareBytes } from '../core/compare.js';
import { digestHex, sha256, type Digest } from '../core/digest.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import { resolveHostTools } from '../builder/toolchain.js';
import type { BuildErrorCode } from '../builder/errors.js';
import type { NpmLockEntry, NpmLockfile } from '../lock/index.js';
import { pnpmTarballUrl } from '../lock/pnpm-lock.js';
import { mapLimit } from '../registry/retry.js';
import { SANDBOX_PROFILE } from '../sandbox/profile.js';
import { DEFAULT_NPM_REGISTRY, readNpmrc } from './lock.js';
import {
  assertScriptsDecided,
  reuseOrInstall,
  treeOf,
  type InstallContext,
  type NpmInstall,
} from './npm-install.js';

/*
 * A pnpm install, one per install action, beside the npm ones:
 *
 *   $AIRLOCK_HOME/airlock/v1/npm/<hex of the install key>/
 *     root/                  the lockfile's directory, node_modules only:
 *       node_modules/          the root project's (with .pnpm/, pnpm's virtual store)
 *       packages/web/node_modules/   each workspace project's
 *     install.json           {"format":"airlock.pnpm-install/v1","key":"sha256:…","tree":"sha256:…"}
 *
 * pnpm cannot fill its store from tarball files, so the install runs
 * `pnpm install --frozen-lockfile` inside the sandbox against a registry on
 * the sandbox's own loopback interface (its network namespace has nothing
 * else): a small server that answers only the locked tarballs, each read
 * from the store verified. Nothing leaves the sandbox.
 */

export const PNPM_INSTALL_FORMAT = 'airlock.pnpm-install/v1';

/** Where the install's plan, server and tarballs sit inside the sandbox's work directory. */
const STAGE = '.airlock-pnpm';

/**
 * The loopback registry and the install, run by node inside the sandbox: it
 * serves `plan.tarballs` (URL path → file) and nothing else, runs each of
 * `plan.commands` with the registry's URL in place of `{registry}`, and exits
 * with the first failing status.
 */
const INSTALLER = `'use strict';
const { createServer } = require('node:http');
const { createReadStream, readFileSync } = require('node:fs');
const { spawn } = require('node:child_process');
const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const server = createServer((req, res) => {
  let path = '';
  try { path = decodeURIComponent(new URL(req.url, 'http://localhost').pathname); } catch {}
  const file = req.method === 'GET' ? plan.tarballs[path] : undefined;
  if (file === undefined) {
    process.stderr.write('airlock: the sandbox registry serves only the locked tarballs; pnpm asked for ' + req.method + ' ' + req.url + '\\n');
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  createReadStream(file).pipe(res);
});
const run = (args) => new Promise((done) => {
  const child = spawn(plan.pnpm, args, { stdio: 'inherit', env: { ...process.env, ...plan.env } });
  child.on('error', (e) => { process.stderr.write('airlock: cannot run pnpm: ' + e.message + '\\n'); done(127); });
  child.on('exit', (code) => done(code === null ? 128 : code));
});
server.listen(0, '127.0.0.1', async () => {
  const registry = 'http://127.0.0.1:' + server.address().port + '/';
  let status = 0;
  for (const args of plan.commands) {
    status = await run(args.map((a) => a.split('{registry}').join(registry)));
    if (status !== 0) break;
  }
  server.close();
  process.exitCode = status;
});
`;

/** Largest package.json read out of a tarball to see its install scripts. */
const MAX_MANIFEST = 1 << 20;

/** True when a package.json declares a script npm and pnpm run at install. */
function declaresInstallScript(text: Buffer | undefined): boolean {
  if (!text) return false;
  try {
    const scripts = (JSON.parse(text.toString('utf8')) as { scripts?: Record<string, unknown> })
      .scripts;
    return ['preinstall', 'install', 'postinstall'].some(
      (s) => typeof scripts?.[s] === 'string' && scripts[s] !== '',
    );
  } catch {
    return false;
  }
}

/**
 * Installs (or reuses) a target's pnpm-lock.yaml offline in the sandbox:
 * every importer's node_modules, from the fetched tarballs only. Install
 * scripts are decided as for npm: a package whose tarball declares one must
 * be in `npm.scripts` (it runs, by `pnpm rebuild`) or `npm.skipScripts`.
 */
export async function pnpmInstall(
  ctx: InstallContext,
  target: TargetConfig,
  lockfile: NpmLockfile,
): Promise<NpmInstall> {
  const npm = target.npm!;
  const lockDir = posix.dirname(npm.lockfile);
  const rel = (p: string): string => (lockDir === '.' ? p : `${lockDir}/${p}`);
  const importers = (lockfile.importers ?? ['.']).filter(
    (i) => !i.startsWith('/') && !i.split('/').includes('..'),
  );
  const manifests = [
    'pnpm-lock.yaml',
    ...importers.map((i) => (i === '.' ? 'package.json' : `${i}/package.json`)),
  ];
  const texts = new Map<string, Buffer>();
  for (const m of manifests)
    texts.set(m, await readFile(join(ctx.project.root, ...rel(m).split('/'))));
  const workspace = await readFile(
    join(ctx.project.root, ...rel('pnpm-workspace.yaml').split('/')),
  ).catch((err: unknown) => {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  });
  if (workspace) texts.set('pnpm-workspace.yaml', workspace);
  const tools = await resolveHostTools(['node', 'pnpm'], ctx.statCache, ctx.env);
  const [node, pnpm] = [tools[0]!, tools[1]!];
  const registry = (await readNpmrc(ctx.project.root)).registry ?? DEFAULT_NPM_REGISTRY;
  const used = new Set(lockfile.packages.map((p) => p.integrity));
  const tarballs = ctx.lock.npm.filter((e) => used.has(e.integrity));
  const key = digestJson({
    format: PNPM_INSTALL_FORMAT,
    files: Object.fromEntries([...texts].map(([p, b]) => [p, sha256(b)])),
    tarballs: tarballs.map((e) => e.integrity).sort(compareBytes),
    scripts: [...npm.scripts].sort(compareBytes),
    skipScripts: [...npm.skipScripts].sort(compareBytes),
    registry,
    toolchain: tools.map((t) => ({
      name: t.name,
      digest: t.digest,
      ...(t.package ? { package: t.package.tree } : {}),
    })),
    platform: { os: process.platform, arch: process.arch },
    sandbox: digestJson(SANDBOX_PROFILE),
  });
  const home = join(ctx.store.paths.npm, digestHex(key));
  const binds = importers.map((i) => (i === '.' ? 'node_modules' : `${i}/node_modules`));
  return reuseOrInstall(ctx, {
    key,
    home,
    dir: join(home, 'root'),
    dest: lockDir,
    binds,
    what: `pnpm install of ${npm.lockfile}`,
    fresh,
  });

  async function fresh(): Promise<Digest> {
    const served: Record<string, string> = {};
    tarballs.forEach((e, i) => {
      served[tarballPath(e, registry, npm.lockfile)] = `/src/${STAGE}/tarballs/${i}.tgz`;
    });
    const work = await ctx.store.ownedTempDir('npm');
    try {
      const src = join(work, 'src');
      for (const [p, bytes] of texts) {
        const to = join(src, ...p.split('/'));
        await mkdir(dirname(to), { recursive: true });
        await writeFile(to, bytes);
      }
      const stage = join(src, STAGE);
      await mkdir(join(stage, 'tarballs'), { recursive: true });
      // Each tarball re-verified from the store, and its install scripts read.
      const withScripts = new Set<string>();
      await mapLimit(tarballs, 4, async (e, i) => {
        if (e.sha256 === undefined)
          throw new AirlockError<BuildErrorCode>(
            'STEP_FAILED',
            `${e.name}@${e.version} was never fetched`,
            { hint: 'Run `airlock fetch`.' },
          );
        const blob = await ctx.store.verifiedPath(e.sha256);
        const manifest = await readTarFile(
          Readable.from([await readFile(blob)]),
          (p) => /^[^/]+\/package\.json$/.test(p),
          MAX_MANIFEST,
        );
        if (declaresInstallScript(manifest)) withScripts.add(e.integrity);
        const to = join(stage, 'tarballs', `${i}.tgz`);
        await link(blob, to).catch(async (err: unknown) => {
          if (errnoCode(err) === 'EEXIST') return;
          await copyFile(blob, to);
        });
      });
      assertScriptsDecided(target, {
        ...lockfile,
        packages: lockfile.packages.map((p) =>
          withScripts.has(p.integrity) ? { ...p, hasInstallScript: true } : p,
        ),
      });
      const flags = [
        '--registry={registry}',
        `--store-dir=/src/${STAGE}/store`,
        '--config.minimum-release-age=0',
        '--config.manage-package-manager-versions=false',
        '--config.package-import-method=copy',
        '--reporter=append-only',
      ];
      const commands = [
        ['install', '--frozen-lockfile', '--ignore-scripts', '--ignore-pnpmfile', ...flags],
        ...(npm.scripts.length > 0
          ? [
              [
                'rebuild',
                '--recursive',
                '--config.dangerously-allow-all-builds=true',
                ...npm.scripts,
                ...flags,
              ],
            ]
          : []),
      ];
      const inSandbox = `/src/${STAGE}/home`;
      await writeFile(join(stage, 'install.cjs'), INSTALLER);
      await writeFile(
        join(stage, 'plan.json'),
        JSON.stringify({
          pnpm: `${SANDBOX_PROFILE.toolsDir}/pnpm`,
          tarballs: served,
          commands,
          env: {
            HOME: inSandbox,
            XDG_CACHE_HOME: `${inSandbox}/cache`,
            XDG_CONFIG_HOME: `${inSandbox}/config`,
            XDG_DATA_HOME: `${inSandbox}/data`,
            XDG_STATE_HOME: `${inSandbox}/state`,
            CI: '1',
            NO_COLOR: '1',
          },
        }),
      );
      const { runInSandbox } = await import('../sandbox/run.js');
      const run = await runInSandbox({
        workDir: src,
        inputs: pnpm.package ? [{ source: pnpm.package.dir, dest: pnpm.package.dir }] : [],
        tools: [
          { name: 'node', path: node.path },
          { name: 'pnpm', path: pnpm.path, ...(pnpm.package ? { link: true } : {}) },
        ],
        env: {},
        sourceDateEpoch: 315532800,
        command: `node /src/${STAGE}/install.cjs /src/${STAGE}/plan.json`,
        timeoutMs: target.limits.timeoutSeconds * 1000,
        maxOutputBytes: target.limits.logBytes,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if (run.exitCode !== 0)
        throw new AirlockError<BuildErrorCode>(
          'STEP_FAILED',
          `target "${target.name}": the offline pnpm install of ${npm.lockfile} exited with status ${run.exitCode}\n${Buffer.concat([run.stdout, run.stderr]).toString('utf8').trimEnd().split('\n').slice(-20).join('\n')}`,
          {
            hint: `${lockfile.lockfileVersion?.startsWith('6') ? `If pnpm refused lockfileVersion ${lockfile.lockfileVersion} (pnpm 12 does), regenerate ${npm.lockfile} with the pnpm on PATH (\`pnpm install --lockfile-only\`, then \`airlock lock\`), or put the pnpm that wrote it on PATH. ` : ''}Run \`airlock fetch\` if a package is missing; a package whose install script is needed goes in targets.<name>.npm.scripts.`,
            details: { target: target.name, lockfile: npm.lockfile },
          },
        );
      const out = join(work, 'root');
      for (const b of binds) {
        const from = join(src, ...b.split('/'));
        const to = join(out, ...b.split('/'));
        await mkdir(from, { recursive: true });
        await mkdir(dirname(to), { recursive: true });
        await dropVolatile(from);
        await rename(from, to);
      }
      const tree = await treeOf(out, ctx.statCache);
      await rm(home, { recursive: true, force: true });
      await mkdir(home, { recursive: true });
      await rename(out, join(home, 'root'));
      await writeFile(
        join(home, 'install.json'),
        JSON.stringify({ format: PNPM_INSTALL_FORMAT, key, tree }),
      );
      ctx.events({
        type: 'log',
        level: 'info',
        target: target.name,
        message: `installed ${npm.lockfile} offline with pnpm (${tarballs.length} packages)`,
      });
      return tree;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/**
 * The URL path pnpm asks the registry for a locked tarball; a tarball the
 * lock pins at another URL than the registry's is refused (pnpm would fetch
 * it from there, and the sandbox has no network).
 */
function tarballPath(e: NpmLockEntry, registry: string, lockfile: string): string {
  const expected = pnpmTarballUrl(registry, e.name, e.version);
  if (e.resolved !== expected)
    throw new AirlockError<BuildErrorCode>(
      'STEP_FAILED',
      `${lockfile}: ${e.name}@${e.version} is pinned to ${e.resolved}, not to the registry's ${expected}: the sandbox can serve pnpm only registry tarballs`,
      {
        hint: `Install ${e.name} from the registry (${registry}), then run \`pnpm install --lockfile-only\` and \`airlock lock\`.`,
        details: { package: `${e.name}@${e.version}`, resolved: e.resolved },
      },
    );
  return pnpmTarballUrl('http://127.0.0.1/', e.name, e.version).slice('http://127.0.0.1'.length);
}

/**
 * Removes what pnpm writes into node_modules that records when and where it
 * ran rather than what it installed (time stamps, the sandbox's store path):
 * Node never reads these files, and the tree must be the same at every install.
 */
async function dropVolatile(nodeModules: string): Promise<void> {
  const names = await readdir(nodeModules).catch(() => [] as string[]);
  for (const n of names)
    if (n === '.modules.yaml' || /^\.pnpm-workspace-state.*\.json$/.test(n))
      await rm(join(nodeModules, n), { force: true });
}
