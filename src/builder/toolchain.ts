import { closeSync, existsSync, openSync, readSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AirlockError } from '../core/errors.js';
import { findOnPath, pathOf, type HostEnv } from './host-path.js';
import { satisfiesRange } from '../core/semver-range.js';
import type { Digest } from '../core/digest.js';
import { treeDigest } from '../core/tree.js';
import { hashTree } from '../hash/inputs.js';
import { walkGlobs } from '../hash/walk.js';
import type { StatCache } from '../hash/stat-cache.js';

export type ToolchainErrorCode =
  | 'TOOL_NOT_FOUND'
  /** A host tool outside /usr that cannot be bound into the sandbox (a version manager's shim, a package too large). */
  | 'TOOL_OUTSIDE_USR'
  /** The host's node does not satisfy the project's `engines.node`. */
  | 'ENGINE_UNSATISFIED';

/**
 * Debian packages that provide common tool names (checked against Debian 12's
 * archive), and tools that come from the npm registry instead. A name not
 * listed gets no package name in its hint: an invented one would mislead.
 */
const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  cc: 'gcc',
  gcc: 'gcc',
  'g++': 'g++',
  'c++': 'g++',
  clang: 'clang',
  make: 'make',
  node: 'nodejs',
  npm: 'npm',
  npx: 'npm',
  tsc: 'node-typescript',
  yarn: 'yarnpkg',
  yarnpkg: 'yarnpkg',
  python3: 'python3',
  python: 'python3',
  go: 'golang-go',
  cargo: 'cargo',
  rustc: 'rustc',
  java: 'default-jdk-headless',
  javac: 'default-jdk-headless',
  git: 'git',
  perl: 'perl',
  zip: 'zip',
  unzip: 'unzip',
  tar: 'tar',
  gzip: 'gzip',
  'pkg-config': 'pkgconf',
  cmake: 'cmake',
  ninja: 'ninja-build',
};
const NPM_PACKAGE: Readonly<Record<string, string>> = {
  pnpm: 'pnpm',
  tsc: 'typescript',
  esbuild: 'esbuild',
  rollup: 'rollup',
  vite: 'vite',
  webpack: 'webpack-cli',
};

/** How to install a missing host tool, naming only packages that exist. */
export function installHint(name: string): string {
  const deb = DEBIAN_PACKAGE[name];
  const npm = NPM_PACKAGE[name];
  const ways: string[] = [];
  if (deb) ways.push(`\`apt-get install ${deb}\``);
  if (npm)
    ways.push(
      `as a pinned devDependency (\`npm install --save-dev --save-exact ${npm}\`) run from node_modules/.bin`,
    );
  if (ways.length === 0)
    ways.push(
      'with your package manager (`apt-file search bin/' + name + '` names the Debian package)',
    );
  return `Install ${name} ${ways.join(' or ')}, or remove it from toolchain.host.`;
}

export interface HostTool {
  name: string;
  /** The binary's real path after following every symlink (cc → alternatives → gcc-12). */
  path: string;
  digest: Digest;
  /**
   * For a launcher inside a package outside /usr (a global `pnpm` under a user
   * prefix): the package directory, bound read-only at its own path, and its
   * tree digest, which is part of the toolchain.
   */
  package?: { dir: string; tree: Digest };
}

/** A tool's package bigger than this is refused rather than hashed at every build. */
const MAX_PACKAGE_FILES = 50_000;

export { findOnPath, pathOf, type HostEnv };

/**
 * Resolves host tools by name on the run's `PATH` to their real binaries and
 * digests (through the stat cache, so a 100 MB `node` is hashed once).
 */
export async function resolveHostTools(
  names: readonly string[],
  cache: StatCache,
  env: HostEnv,
): Promise<HostTool[]> {
  const tools: HostTool[] = [];
  const envPath = pathOf(env);
  for (const name of names) {
    const found = findOnPath(name, envPath);
    if (!found) {
      throw new AirlockError<ToolchainErrorCode>(
        'TOOL_NOT_FOUND',
        `host tool "${name}" is not on PATH`,
        {
          hint: installHint(name),
          details: { tool: name, path: envPath },
        },
      );
    }
    const real = realpathSync(found);
    const pkg = packageOf(name, found, real, env['HOME']);
    const [entry] = await hashTree('/', [{ path: real.slice(1), kind: 'file' }], cache);
    if (!entry || entry.kind !== 'file') throw new Error(`cannot hash ${real}`);
    tools.push({
      name,
      path: real,
      digest: entry.digest,
      ...(pkg ? { package: { dir: pkg, tree: await packageTree(name, pkg, cache) } } : {}),
    });
  }
  return tools;
}

/**
 * Refuses to build a project whose `engines.node` the host's node (the one
 * its targets run as a host tool) does not satisfy, before any step runs.
 */
export function assertNodeEngine(
  project: { file: string; engines?: string },
  node: { path: string; version: string },
): void {
  if (project.engines === undefined) return;
  if (satisfiesRange(node.version, project.engines) !== false) return;
  throw new AirlockError<ToolchainErrorCode>(
    'ENGINE_UNSATISFIED',
    `${project.file} requires node ${project.engines} (engines.node), but the host's node ${node.path} is ${node.version}`,
    {
      hint: `Install a node that satisfies "${project.engines}" (https://nodejs.org, or a toolchain image with it), or change engines.node if the project really runs on ${node.version}.`,
      details: { required: project.engines, node: node.path, version: node.version },
    },
  );
}

/** Where the sandbox shows the host's own files: a tool whose real path is here runs with everything beside it. */
const HOST_ROOTS = ['/usr/', '/bin/', '/sbin/', '/lib/', '/lib64/'];

/**
 * The package directory of a host tool outside /usr that is a launcher script
 * inside a package (a global `pnpm` under ~/.npm-global, nvm or /opt): the
 * sandbox binds that directory read-only at its own path so the launcher
 * finds the files beside it. A version manager's shim cannot work there (it
 * re-executes the manager) and is refused with the fix.
 */
function packageOf(
  name: string,
  found: string,
  real: string,
  home: string | undefined,
): string | undefined {
  if (HOST_ROOTS.some((r) => real.startsWith(r))) return undefined;
  if (real.split('/').includes('shims') && isScript(real)) {
    // pyenv, rbenv, nodenv, asdf: the shim only re-executes the version manager.
    throw new AirlockError<ToolchainErrorCode>(
      'TOOL_OUTSIDE_USR',
      `host tool "${name}" (${found}) is a version manager's shim, outside /usr: in the sandbox it cannot reach the version manager it runs`,
      {
        hint: `Put the system's ${name} first on PATH (e.g. PATH=/usr/local/bin:/usr/bin:/bin airlock build), install ${name} under /usr, or use a toolchain image that has it.`,
        details: { tool: name, path: found, real },
      },
    );
  }
  const pkg = packageDirOf(real);
  if (pkg === undefined || !isScript(real)) return undefined;
  if (pkg === '/' || (home !== undefined && pkg === home.replace(/\/$/, '')))
    throw new AirlockError<ToolchainErrorCode>(
      'TOOL_OUTSIDE_USR',
      `host tool "${name}" (${found} → ${real}) is a launcher whose nearest package.json is ${pkg}: binding that whole directory into the sandbox would show far more than the tool`,
      {
        hint: `Install ${name} under /usr (\`npm install -g --prefix /usr/local ${NPM_PACKAGE[name] ?? name}@<version>\`), or make it a pinned devDependency and run it from node_modules/.bin, or use a toolchain image that has it.`,
        details: { tool: name, path: found, real, package: pkg },
      },
    );
  return pkg;
}

/** The tree digest of a tool's package directory (through the stat cache). */
async function packageTree(name: string, dir: string, cache: StatCache): Promise<Digest> {
  const walk = await walkGlobs(dir, ['**']);
  if (walk.matched.length > MAX_PACKAGE_FILES || walk.special.length > 0)
    throw new AirlockError<ToolchainErrorCode>(
      'TOOL_OUTSIDE_USR',
      `host tool "${name}" is a launcher inside ${dir}, which holds ${walk.special.length > 0 ? 'sockets or FIFOs' : `${walk.matched.length} files (more than ${MAX_PACKAGE_FILES})`}: too much to bind and hash as its package`,
      {
        hint: `Install ${name} under /usr (\`npm install -g --prefix /usr/local ${NPM_PACKAGE[name] ?? name}@<version>\`), or use a toolchain image that has it.`,
        details: { tool: name, package: dir },
      },
    );
  return treeDigest(await hashTree(dir, walk.matched, cache));
}

/** The nearest ancestor directory holding a package.json (an npm-installed tool's package), if within a few levels. */
function packageDirOf(file: string): string | undefined {
  let dir = dirname(file);
  for (let i = 0; i < 4 && dir !== '/'; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return undefined;
}

/** True when the file starts with `#!` (a script run by an interpreter). */
function isScript(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(2);
    readSync(fd, head, 0, 2, 0);
    return head.toString('latin1') === '#!';
  } finally {
    closeSync(fd);
  }
}
