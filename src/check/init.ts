import { posix } from 'node:path';

/** What `init` found in a project root. */
export interface Detection {
  name: string;
  node?: {
    lockfile: string | undefined;
    scripts: Record<string, string>;
    packageManager: 'npm' | 'yarn' | 'pnpm';
  };
  dockerfile?: string;
  make?: { hasC: boolean };
  go?: boolean;
  python?: { requirements: string | undefined; pyproject: boolean };
}

/** Detects the project kinds from root-level paths and the root package.json text. */
export function detectProject(
  name: string,
  paths: ReadonlySet<string>,
  packageJson: string | undefined,
): Detection {
  const det: Detection = { name: name.replace(/[^A-Za-z0-9._-]/g, '-') || 'app' };
  if (packageJson !== undefined) {
    let scripts: Record<string, string> = {};
    try {
      const pkg = JSON.parse(packageJson) as { name?: unknown; scripts?: Record<string, unknown> };
      if (typeof pkg.name === 'string' && pkg.name) det.name = pkg.name.replace(/^@[^/]+\//, '');
      scripts = Object.fromEntries(
        Object.entries(pkg.scripts ?? {}).filter(
          (e): e is [string, string] => typeof e[1] === 'string',
        ),
      );
    } catch {
      // A broken package.json is reported by check; init still writes a starting point.
    }
    const lockfile = [
      'package-lock.json',
      'npm-shrinkwrap.json',
      'yarn.lock',
      'pnpm-lock.yaml',
    ].find((l) => paths.has(l));
    const packageManager =
      lockfile === 'yarn.lock' ? 'yarn' : lockfile === 'pnpm-lock.yaml' ? 'pnpm' : 'npm';
    det.node = { lockfile, scripts, packageManager };
  }
  const dockerfile = ['Dockerfile', 'Containerfile'].find((d) => paths.has(d));
  if (dockerfile) det.dockerfile = dockerfile;
  if (paths.has('Makefile') || paths.has('GNUmakefile'))
    det.make = { hasC: [...paths].some((p) => /\.(?:c|cc|cpp)$/.test(p)) };
  if (paths.has('go.mod')) det.go = true;
  const requirements = [...paths].find(
    (p) => posix.dirname(p) === '.' && /^requirements.*\.txt$/.test(p),
  );
  if (requirements || paths.has('pyproject.toml'))
    det.python = { requirements, pyproject: paths.has('pyproject.toml') };
  return det;
}

const q = (s: string): string => JSON.stringify(s);

/**
 * A commented airlock.yaml (format version 1) for the detected project: one
 * target per toolchain with sources, steps and outputs filled in as far as
 * the files tell, and TODOs where a person must decide.
 */
export function renderAirlockYaml(det: Detection, sourceDateEpoch: number): string {
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
  const toolchain = (host: string[]): string[] => [
    '    # TODO: replace the host toolchain with an image pinned by digest to reach level 4:',
    '    #   toolchain: { image: "docker.io/library/node:20.11.1@sha256:<digest>" }',
    `    toolchain: { host: [${host.join(', ')}] }`,
  ];
  let any = false;
  if (det.node) {
    any = true;
    const pm = det.node.packageManager;
    const install =
      pm === 'npm'
        ? 'npm ci --offline'
        : pm === 'yarn'
          ? 'yarn install --immutable --offline'
          : 'pnpm install --frozen-lockfile --offline';
    const run = (s: string): string => (pm === 'npm' ? `npm run ${s}` : `${pm} run ${s}`);
    const steps = [install];
    if (det.node.scripts.build) steps.push(run('build'));
    if (det.node.scripts.test) steps.push(run('test'));
    lines.push(
      `  ${det.node.scripts.build ? 'build' : 'app'}:`,
      '    sources: ["package.json", ' +
        (det.node.lockfile ? `${q(det.node.lockfile)}, ` : '') +
        '"src/**", "lib/**", "*.js", "*.ts"]',
      '    exclude: ["node_modules/**", "dist/**"]',
      ...toolchain(['node', pm === 'npm' ? 'npm' : pm]),
      '    env: { NODE_ENV: "production" }',
      '    steps:',
      ...steps.map((s) => `      - ${s}`),
      '    outputs: ["dist/**"]',
    );
    if (!det.node.lockfile)
      lines.push(
        '    # TODO: no lockfile found; run `npm install --package-lock-only` and commit it.',
      );
  }
  if (det.make) {
    any = true;
    lines.push(
      '  native:',
      '    sources: ["Makefile", "**/*.c", "**/*.h"]',
      ...toolchain(['cc', 'make']),
      '    steps:',
      '      - make',
      '    outputs: ["build/**"]  # TODO: where does make write its outputs?',
    );
  }
  if (det.go) {
    any = true;
    lines.push(
      '  go:',
      '    sources: ["go.mod", "go.sum", "**/*.go"]',
      ...toolchain(['go']),
      '    env: { CGO_ENABLED: "0", GOFLAGS: "-mod=vendor -trimpath" }',
      '    steps:',
      '      - go build -o out/ ./...',
      '    outputs: ["out/**"]',
    );
  }
  if (det.python) {
    any = true;
    const req = det.python.requirements;
    lines.push(
      '  python:',
      `    sources: [${[req ? q(req) : undefined, det.python.pyproject ? '"pyproject.toml"' : undefined, '"**/*.py"'].filter(Boolean).join(', ')}]`,
      ...toolchain(['python3']),
      '    steps:',
      req
        ? `      - python3 -m pip install --no-index --require-hashes -r ${req} --target out/deps`
        : '      - python3 -m build --no-isolation --outdir out/',
      '    outputs: ["out/**"]',
    );
  }
  if (det.dockerfile) {
    any = true;
    lines.push(
      `  # ${det.dockerfile} found: build the image from the outputs above, with base images pinned by digest`,
      '  # (`airlock pin` rewrites FROM lines). TODO: declare an image target once its layers are known:',
      '  #   image: { base: "<ref>@sha256:<digest>", copy: { "dist/": "/app/" }, entrypoint: ["node", "/app/index.js"] }',
    );
  }
  if (!any) {
    lines.push(
      '  app:',
      '    sources: ["**"]',
      ...toolchain(['sh']),
      '    steps:',
      '      - echo "TODO: your build command"',
      '    outputs: ["out/**"]',
    );
  }
  return `${lines.join('\n')}\n`;
}
