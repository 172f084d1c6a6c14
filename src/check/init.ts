import { posix } from 'node:path';
import picomatch from 'picomatch';
import { parse as parseYaml } from 'yaml';
import { compareBytes } from '../core/compare.js';
import { parsePnpmLock } from '../lock/pnpm-lock.js';

/** The files `init` reads: every root-relative path, and the text of the few it needs. */
export interface ProjectFiles {
  paths: ReadonlySet<string>;
  /** The text of a root-relative file `init` asked for, when it exists. */
  text(path: string): string | undefined;
}

/** The files `init` reads the text of, when present. */
export const INIT_READS = [
  'package.json',
  'tsconfig.json',
  'Makefile',
  'GNUmakefile',
  'makefile',
  'pyproject.toml',
  'go.mod',
  '.npmrc',
  'package-lock.json',
  'npm-shrinkwrap.json',
  'pnpm-lock.yaml',
  'pnpm-workspace.yaml',
] as const;

/** A Node project as its package.json, tsconfig and lockfile describe it. */
export interface NodeDetection {
  lockfile: string | undefined;
  packageManager: 'npm' | 'yarn' | 'pnpm';
  scripts: Record<string, string>;
  /** Declares dependencies that an install step must bring in. */
  hasDependencies: boolean;
  /** tsc's outDir, when the build runs tsc and tsconfig.json names one. */
  outDir?: string;
  engines?: string;
  workspaces: string[];
  /** Packages of the npm package-lock that have install scripts (sorted). */
  installScripts: string[];
}

/** A Makefile project: what `make` builds and where it writes. */
export interface MakeDetection {
  makefile: string;
  /** Paths the recipes write (`-o x`, the default goal), relative to the root. */
  outputs: string[];
  hasTest: boolean;
}

/** A Python project: its name, importable packages and tests. */
export interface PythonDetection {
  name: string;
  packages: string[];
  /** `src` for a src layout, '' otherwise. */
  srcDir: string;
  tests: string | undefined;
  requirements: string | undefined;
}

/** What `init` found in a project root. */
export interface Detection {
  name: string;
  node?: NodeDetection;
  dockerfile?: string;
  make?: MakeDetection;
  go?: boolean;
  python?: PythonDetection;
}

const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'];

/** Parses JSON with comments and trailing commas removed (tsconfig.json allows both); undefined when unreadable. */
function looseJson(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const stripped = text
      .replace(
        /("(?:[^"\\]|\\.)*")|\/\*[^]*?\*\/|\/\/[^\n]*/g,
        (_m, s: string | undefined) => s ?? '',
      )
      .replace(/,(\s*[}\]])/g, '$1');
    const v = JSON.parse(stripped) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function detectNode(files: ProjectFiles, det: Detection): void {
  const text = files.text('package.json');
  if (text === undefined) return;
  const pkg = looseJson(text) ?? {};
  if (typeof pkg.name === 'string' && pkg.name) det.name = pkg.name.replace(/^@[^/]+\//, '');
  const scripts = Object.fromEntries(
    Object.entries((pkg.scripts as Record<string, unknown> | undefined) ?? {}).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    ),
  );
  const lockfile = LOCKFILES.find((l) => files.paths.has(l));
  const packageManager =
    lockfile === 'yarn.lock' ? 'yarn' : lockfile === 'pnpm-lock.yaml' ? 'pnpm' : 'npm';
  const hasDependencies = ['dependencies', 'devDependencies', 'optionalDependencies'].some(
    (k) => Object.keys((pkg[k] as Record<string, unknown> | undefined) ?? {}).length > 0,
  );
  const ws = pkg.workspaces;
  const workspaces = Array.isArray(ws)
    ? ws.filter((w): w is string => typeof w === 'string')
    : Array.isArray((ws as { packages?: unknown } | undefined)?.packages)
      ? (ws as { packages: unknown[] }).packages.filter((w): w is string => typeof w === 'string')
      : [];
  const node: NodeDetection = {
    lockfile,
    packageManager,
    scripts,
    hasDependencies,
    workspaces: [...workspaces, ...pnpmWorkspaces(files.text('pnpm-workspace.yaml'))],
    installScripts:
      lockfile === 'pnpm-lock.yaml'
        ? pnpmInstallScriptsOf(files.text(lockfile))
        : lockfile === undefined
          ? []
          : installScriptsOf(files.text(lockfile)),
  };
  // A pnpm workspace's dependencies may all be its projects'.
  if (packageManager === 'pnpm' && node.workspaces.length > 0) node.hasDependencies = true;
  const tsconfig = looseJson(files.text('tsconfig.json'));
  const outDir = (tsconfig?.compilerOptions as { outDir?: unknown } | undefined)?.outDir;
  if (typeof outDir === 'string' && /\btsc\b/.test(scripts.build ?? ''))
    node.outDir = posix.normalize(outDir).replace(/^\.\/|\/$/g, '');
  const engines = (pkg.engines as { node?: unknown } | undefined)?.node;
  if (typeof engines === 'string') node.engines = engines;
  det.node = node;
}

/** The names of a package-lock's packages that have install scripts (none for other lockfiles). */
function installScriptsOf(text: string | undefined): string[] {
  const lock = looseJson(text);
  const packages = lock?.packages;
  if (typeof packages !== 'object' || packages === null) return [];
  const names = new Set<string>();
  for (const [path, value] of Object.entries(packages as Record<string, unknown>)) {
    const v = value as { hasInstallScript?: unknown; name?: unknown; link?: unknown };
    if (v.hasInstallScript !== true || v.link === true) continue;
    const i = path.lastIndexOf('node_modules/');
    const name = i < 0 ? v.name : path.slice(i + 'node_modules/'.length);
    if (typeof name === 'string' && name !== '' && path !== '') names.add(name);
  }
  return [...names].sort(compareBytes);
}

/** The project globs of a pnpm-workspace.yaml (`packages:`), exclusions (`!…`) left out. */
function pnpmWorkspaces(text: string | undefined): string[] {
  if (text === undefined) return [];
  try {
    const doc = parseYaml(text) as { packages?: unknown } | null;
    const list = Array.isArray(doc?.packages) ? doc.packages : [];
    return list.filter((p): p is string => typeof p === 'string' && !p.startsWith('!'));
  } catch {
    return [];
  }
}

/** The packages a pnpm-lock.yaml marks `requiresBuild` (lockfile 6; lockfile 9 no longer records it). */
function pnpmInstallScriptsOf(text: string | undefined): string[] {
  if (text === undefined) return [];
  try {
    const lock = parsePnpmLock(text, 'pnpm-lock.yaml');
    return [...new Set(lock.packages.filter((p) => p.hasInstallScript).map((p) => p.name))].sort(
      compareBytes,
    );
  } catch {
    return []; // `airlock lock` reports what is wrong with it
  }
}

/** Simple `NAME = value` / `NAME := value` assignments of a Makefile, for expanding `$(NAME)`. */
function makeVariables(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const m of text.matchAll(/^([A-Za-z_][\w]*)\s*[:?]?=\s*(.*?)\s*$/gm)) vars.set(m[1]!, m[2]!);
  return vars;
}

function detectMake(files: ProjectFiles, det: Detection): void {
  const makefile = ['GNUmakefile', 'makefile', 'Makefile'].find((m) => files.paths.has(m));
  const text = makefile ? files.text(makefile) : undefined;
  if (!makefile || text === undefined) return;
  const vars = makeVariables(text);
  const expand = (s: string): string =>
    s.replace(/\$[({]([A-Za-z_]\w*)[)}]/g, (_m, v: string) => vars.get(v) ?? '');
  const phony = new Set(
    [...text.matchAll(/^\.PHONY\s*:(.*)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/)),
  );
  const outputs = new Set<string>();
  let goal: string | undefined;
  let current: string | undefined;
  let hasTest = false;
  for (const line of text.split('\n')) {
    const rule = /^([^\s#:=][^:=]*?)\s*:(?!=)/.exec(line);
    if (rule && !line.startsWith('\t')) {
      const targets = expand(rule[1]!).trim().split(/\s+/);
      current = targets[0];
      if (targets.some((t) => t === 'test' || t === 'check')) hasTest = true;
      if (!goal && current && !current.startsWith('.') && !current.includes('%')) goal = current;
      continue;
    }
    if (line.startsWith('\t') && current) {
      for (const m of line.matchAll(/(?:^|\s)-o\s*(\S+)/g)) {
        const out = expand(m[1]!).replace(/\$@/g, current);
        if (out && !out.includes('$') && !out.startsWith('/')) outputs.add(posix.normalize(out));
      }
    }
  }
  if (outputs.size === 0 && goal && !phony.has(goal) && !files.paths.has(goal)) outputs.add(goal);
  det.make = { makefile, outputs: [...outputs].sort(compareBytes), hasTest };
}

function detectPython(files: ProjectFiles, det: Detection): void {
  const pyproject = files.text('pyproject.toml');
  const requirements = [...files.paths]
    .filter((p) => !p.includes('/') && /^requirements.*\.txt$/.test(p))
    .sort(compareBytes)[0];
  const pyFiles = [...files.paths].filter((p) => p.endsWith('.py'));
  if (pyproject === undefined && !requirements && !files.paths.has('setup.py')) return;
  const srcDir = pyFiles.some((p) => p.startsWith('src/')) ? 'src' : '';
  const prefix = srcDir ? 'src/' : '';
  const packages = [
    ...new Set(
      pyFiles
        .filter((p) => p.startsWith(prefix) && p.endsWith('/__init__.py'))
        .map((p) => p.slice(prefix.length).split('/')[0]!)
        .filter((p) => p !== 'tests' && p !== 'test'),
    ),
  ].sort(compareBytes);
  const name =
    /^\s*name\s*=\s*["']([^"']+)["']/m.exec(pyproject ?? '')?.[1] ?? packages[0] ?? det.name;
  const tests = ['tests', 'test'].find((t) => pyFiles.some((p) => p.startsWith(`${t}/`)));
  const python: PythonDetection = { name, packages, srcDir, tests, requirements };
  det.python = python;
}

/** Detects the project kinds from what its own files say. Pure. */
export function detectProject(name: string, files: ProjectFiles): Detection {
  const det: Detection = { name: name.replace(/[^A-Za-z0-9._-]/g, '-') || 'app' };
  detectNode(files, det);
  const dockerfile = ['Dockerfile', 'Containerfile'].find((d) => files.paths.has(d));
  if (dockerfile) det.dockerfile = dockerfile;
  detectMake(files, det);
  if (files.paths.has('go.mod')) det.go = true;
  detectPython(files, det);
  det.name = det.name.replace(/[^A-Za-z0-9._-]/g, '-') || 'app';
  return det;
}

const q = (s: string): string => JSON.stringify(s);

/** Directories whose files a Node build or its tests commonly read. */
const NODE_DIRS = [
  'src',
  'lib',
  'bin',
  'test',
  'tests',
  'views',
  'templates',
  'static',
  'public',
  'scripts',
];
/** Build-tool configs read implicitly. */
const NODE_CONFIG_RE =
  /^(?:tsconfig(?:\.[\w-]+)?\.json|\.npmrc|(?:rollup|vite|vitest|webpack|esbuild|tsup|babel|jest)\.config\.[cm]?[jt]s|\.babelrc)$/;

/** The globs among `globs` that match at least one of `paths` (init never writes a glob that matches nothing). */
function existing(globs: readonly string[], paths: ReadonlySet<string>): string[] {
  const all = [...paths];
  return globs.filter((g) => {
    const m = picomatch(g, { dot: true });
    return all.some((p) => m(p));
  });
}

/** One rendered target. */
interface TargetText {
  name: string;
  lines: string[];
}

function toolchainLines(host: string[]): string[] {
  return [
    '    # A host toolchain (level 3); an image pinned by digest reaches level 4:',
    '    #   toolchain: { image: "<registry>/<image>:<version>@sha256:<digest>" }',
    `    toolchain: { host: [${host.join(', ')}] }`,
  ];
}

function list(items: readonly string[]): string {
  return `[${items.map(q).join(', ')}]`;
}

/** The package-lock the build installs offline from (`npm:` key), when the project is npm with dependencies. */
export function npmLockfileOf(n: NodeDetection | undefined): string | undefined {
  return (n?.packageManager === 'npm' || n?.packageManager === 'pnpm') && n.hasDependencies
    ? n.lockfile
    : undefined;
}

function nodeTarget(n: NodeDetection, files: ProjectFiles): TargetText {
  const root = [...files.paths].filter((p) => !p.includes('/'));
  const rootCode = root.filter(
    (p) => /\.(?:[cm]?js|[cm]?ts|json)$/.test(p) && !LOCKFILES.includes(p),
  );
  const configs = root.filter((p) => NODE_CONFIG_RE.test(p));
  const sources = existing(
    [
      'package.json',
      ...(n.lockfile ? [n.lockfile] : []),
      'pnpm-workspace.yaml',
      ...configs,
      ...rootCode,
      ...NODE_DIRS.map((d) => `${d}/**`),
      ...n.workspaces.map((w) => `${w.replace(/\/$/, '')}/**`),
    ].filter((v, i, a) => a.indexOf(v) === i),
    files.paths,
  );
  const pm = n.packageManager;
  const run = (s: string): string => (pm === 'npm' ? `npm run ${s}` : `${pm} run ${s}`);
  const steps: string[] = [];
  const lines: string[] = [];
  const npmLockfile = npmLockfileOf(n);
  if (npmLockfile) {
    lines.push(
      `    # Every package of ${npmLockfile} is installed offline into node_modules before the steps:`,
      '    # `airlock lock` records the tarballs in airlock.lock, `airlock fetch` downloads them.',
      ...(n.installScripts.length === 0
        ? [`    npm: { lockfile: ${npmLockfile} }`]
        : [
            "    # These packages' install scripts do not run; move one to `scripts:` if the build needs it:",
            `    npm: { lockfile: ${npmLockfile}, skipScripts: ${list(n.installScripts)} }`,
          ]),
      ...(pm === 'pnpm'
        ? [
            '    # node_modules is that install: pnpm must not try to install again (online) before a script.',
            '    env: { pnpm_config_verify_deps_before_run: "false" }',
          ]
        : []),
    );
  } else if (n.hasDependencies) {
    steps.push(
      pm === 'npm'
        ? 'npm ci --offline'
        : pm === 'yarn'
          ? 'yarn install --immutable --offline'
          : 'pnpm install --frozen-lockfile --offline',
    );
    lines.push(
      '    # The sandbox has no network: the install must find every package already fetched.',
    );
  }
  if (n.scripts.build) steps.push(run('build'));
  if (n.scripts.test) steps.push(pm === 'npm' ? 'npm test' : `${pm} test`);
  let outputs: string[];
  if (n.outDir) outputs = [`${n.outDir}/**`];
  else {
    steps.push('mkdir -p out', `${pm === 'pnpm' ? 'pnpm' : 'npm'} pack --pack-destination out`);
    outputs = ['out/*.tgz'];
  }
  // The projects' node_modules come from the offline install, never from the tree.
  const exclude = [
    ...(n.outDir ? [`${n.outDir}/**`] : []),
    ...(n.workspaces.length > 0 ? ['**/node_modules/**'] : []),
  ];
  return {
    name: n.scripts.build ? 'build' : 'package',
    lines: [
      `    sources: ${list(sources)}`,
      ...(exclude.length > 0 ? [`    exclude: ${list(exclude)}`] : []),
      ...toolchainLines(['node', pm === 'npm' ? 'npm' : pm]),
      ...lines,
      '    steps:',
      ...steps.map((s) => `      - ${q(s)}`),
      `    outputs: ${list(outputs)}`,
    ],
  };
}

function makeTarget(m: MakeDetection, files: ProjectFiles): TargetText {
  const sources = existing(
    [m.makefile, '**/*.mk', '**/*.c', '**/*.h', '**/*.cc', '**/*.cpp', '**/*.hpp', '**/*.S'],
    files.paths,
  );
  const steps = ['make', ...(m.hasTest ? ['make test'] : [])];
  const outputs = m.outputs.map((o) => (o.includes('/') ? `${o.split('/')[0]}/**` : o));
  return {
    name: 'native',
    lines: [
      `    sources: ${list(sources)}`,
      ...toolchainLines(['cc', 'make']),
      '    steps:',
      ...steps.map((s) => `      - ${q(s)}`),
      outputs.length > 0
        ? `    outputs: ${list([...new Set(outputs)])}`
        : '    outputs: ["out/**"]  # TODO: make writes no file init could find; name its outputs',
    ],
  };
}

function pythonTarget(p: PythonDetection, files: ProjectFiles): TargetText {
  const prefix = p.srcDir ? `${p.srcDir}/` : '';
  const sources = existing(
    [
      'pyproject.toml',
      'setup.cfg',
      'setup.py',
      ...(p.requirements ? [p.requirements] : []),
      ...p.packages.map((k) => `${prefix}${k}/**/*.py`),
      ...(p.tests ? [`${p.tests}/**/*.py`] : []),
    ],
    files.paths,
  );
  const steps: string[] = [];
  if (p.tests)
    steps.push(
      `${p.srcDir ? `PYTHONPATH=${p.srcDir} ` : ''}python3 -m unittest discover -s ${p.tests} -t .`,
    );
  steps.push('mkdir -p out');
  const pkgs = p.packages.length > 0 ? p.packages : [];
  if (pkgs.length > 0)
    steps.push(
      `${p.srcDir ? `cd ${p.srcDir} && ` : ''}python3 -m zipfile -c ${p.srcDir ? '../' : ''}out/${p.name}.zip ${pkgs.join(' ')}`,
    );
  return {
    name: 'python',
    lines: [
      `    sources: ${list(sources)}`,
      ...toolchainLines(['python3']),
      ...(p.requirements
        ? [
            `    # TODO: ${p.requirements} lists dependencies; the sandbox has no network, so install them from`,
            '    # hash-pinned, already-fetched files (pip --no-index --require-hashes --find-links).',
          ]
        : []),
      '    steps:',
      ...steps.map((s) => `      - ${q(s)}`),
      `    outputs: ${pkgs.length > 0 ? list([`out/${p.name}.zip`]) : '["out/**"]'}`,
    ],
  };
}

/**
 * A commented airlock.yaml (format version 1) for the detected project: one
 * target per toolchain whose sources are globs that match files of the tree,
 * whose steps are what the project says builds it, and whose outputs are
 * where those steps write.
 */
export function renderAirlockYaml(
  det: Detection,
  sourceDateEpoch: number,
  files: ProjectFiles = { paths: new Set(), text: () => undefined },
): string {
  const lines: string[] = [
    '# airlock.yaml — written by `airlock init`; edit freely. Format version 1:',
    '#   targets.<name>: sources (globs), deps, toolchain, env, steps (shell), outputs (globs).',
    '# Every target builds offline in a sandbox from its declared inputs only.',
    'version: 1',
    `name: ${q(det.name)}`,
    '# SOURCE_DATE_EPOCH (reproducible-builds.org) for every output defaults to the time of the',
    "# last git commit touching each target's sources; to pin one value instead:",
    `# sourceDateEpoch: ${sourceDateEpoch}`,
    'targets:',
  ];
  const targets: TargetText[] = [];
  if (det.node) targets.push(nodeTarget(det.node, files));
  if (det.make) targets.push(makeTarget(det.make, files));
  if (det.go) {
    targets.push({
      name: 'go',
      lines: [
        `    sources: ${list(existing(['go.mod', 'go.sum', '**/*.go'], files.paths))}`,
        ...toolchainLines(['go']),
        '    env: { CGO_ENABLED: "0", GOFLAGS: "-mod=vendor -trimpath" }',
        '    steps:',
        '      - "go build -o out/ ./..."',
        '    outputs: ["out/**"]',
      ],
    });
  }
  if (det.python) targets.push(pythonTarget(det.python, files));
  const used = new Set<string>();
  for (const t of targets) {
    let name = t.name;
    for (let i = 2; used.has(name); i++) name = `${t.name}-${i}`;
    used.add(name);
    lines.push(`  ${name}:`, ...t.lines);
  }
  if (det.dockerfile) {
    lines.push(
      `  # ${det.dockerfile} found: base images pinned by digest (\`airlock pin\` rewrites FROM lines) make`,
      '  # its inputs repeatable; an image target can package the outputs above:',
      '  #   image: { entrypoint: ["node", "/app/index.js"] }',
    );
  }
  if (targets.length === 0) {
    const any = existing(['**'], files.paths).length > 0;
    lines.push(
      '  app:',
      `    sources: ${any ? '["**"]' : '[]'}`,
      ...toolchainLines(['sh']),
      '    steps:',
      '      - "echo \'TODO: your build command\' && mkdir -p out && touch out/TODO"',
      '    outputs: ["out/**"]',
    );
  }
  return `${lines.join('\n')}\n`;
}
