import { formatPath } from './locate.js';
import type { Anchor, Locator, PathSegment } from './locate.js';
import type { ConfigProblem } from './model.js';

/** Collects problems located in one file; every check reports through it. */
export class ProblemList {
  readonly items: ConfigProblem[] = [];

  constructor(
    readonly file: string,
    private readonly locator: Locator | undefined,
  ) {}

  /** Records a problem at `path`'s key or value. */
  add(path: readonly PathSegment[], anchor: Anchor, message: string, fix: string): void {
    const pos = this.locator?.locate(path, anchor) ?? { line: 1, column: 1 };
    this.items.push({ file: this.file, ...pos, path: formatPath(path), message, fix });
  }

  /** The scalar at `path` as written in the source, if known. */
  source(path: readonly PathSegment[]): string | undefined {
    return this.locator?.scalarSource(path);
  }

  /** The 1-based line and column of a byte offset of the source. */
  position(offset: number): { line: number; column: number } {
    return this.locator?.position(offset) ?? { line: 1, column: 1 };
  }

  /** Records a problem at a byte offset of the source (YAML syntax errors). */
  addAt(offset: number, path: string, message: string, fix: string): void {
    const pos = this.locator?.position(offset) ?? { line: 1, column: 1 };
    this.items.push({ file: this.file, ...pos, path, message, fix });
  }

  /** The problems by position in the file (stable: ties keep the order they were found in). */
  sorted(): ConfigProblem[] {
    return this.items
      .map((p, i) => ({ p, i }))
      .sort((a, b) => a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
      .map(({ p }) => p);
  }
}

/** One line per problem: `file:line:col: path: message (fix: …)`. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems
    .map((p) => {
      const where = p.path === '' ? '' : `${p.path}: `;
      return `${p.file}:${p.line}:${p.column}: ${where}${p.message} (fix: ${p.fix})`;
    })
    .join('\n');
}

/** How to write each key correctly, used in fixes. */
export const EXAMPLES: Readonly<Record<string, string>> = {
  version: 'version: 1',
  name: 'name: my-project',
  targets: 'targets: { app: { sources: ["src/**"], steps: ["make"], outputs: ["dist/**"] } }',
  sources: 'sources: ["src/**"]',
  exclude: 'exclude: ["**/*.test.js"]',
  deps: 'deps: [lib]',
  toolchain: 'toolchain: { host: [node] }',
  host: 'host: [node]',
  cache: 'cache: { remote: registry.example.com/team/airlock-cache }',
  remote: 'remote: registry.example.com/team/airlock-cache',
  env: 'env: { NODE_ENV: production }',
  steps: 'steps: ["node build.js"]',
  outputs: 'outputs: ["dist/**"]',
  sourceDateEpoch: 'sourceDateEpoch: 1700000000',
  image: 'image: { entrypoint: ["node", "server.js"] }',
  entrypoint: 'entrypoint: ["node", "server.js"]',
  cmd: 'cmd: ["--port", "8080"]',
  workingDir: 'workingDir: /app',
  exposedPorts: 'exposedPorts: ["8080/tcp"]',
  target: 'target: lib',
  path: 'path: vendor/lib',
  timeout: 'timeout: 30m',
  limits: 'limits: { tmp: 512MiB, outputs: 2GiB }',
  npm: 'npm: { lockfile: package-lock.json, scripts: [esbuild] }',
  lockfile: 'lockfile: package-lock.json',
  scripts: 'scripts: [esbuild]',
  installer: 'installer: npm',
  files: 'files: { protoc: { url: "https://example.com/protoc.zip", sha256: "sha256:<hex>" } }',
  url: 'url: "https://example.com/tool.tar.gz"',
  sha256: 'sha256: "sha256:<64 hex>"',
  executable: 'executable: true',
  extract: 'extract: true',
  mirrors: 'mirrors: { npm: "https://npm.example.com/" }',
};

/** A human name for the type of a parsed YAML value. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a number' : 'a decimal number';
  if (typeof value === 'boolean') return `a boolean (${String(value)})`;
  return typeof value;
}
