import { posix } from 'node:path';
import { compareBytes } from '../core/compare.js';
import { checkDockerfile } from './dockerfile.js';
import {
  checkEnginesNode,
  checkPackageJson,
  npmrcDisablesLock,
  checkPackageLock,
  checkPnpmLock,
  checkYarnLock,
  lockedVersions,
  type LockedPackage,
} from './npm.js';
import { finding, RULES } from './rules.js';
import { checkCSource, checkScript, scriptLanguage, scriptReferences } from './scripts.js';
import { findIgnoreComments, LineIndex } from './text.js';
import type { CheckReport, FileKind, Finding, Level, LevelGap, SourceFile } from './types.js';
import {
  checkAirlockYaml,
  checkGithubWorkflow,
  checkGitlabCi,
  checkManifest,
  looksLikeManifest,
} from './yaml-rules.js';

const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'];

/** What kind of file `path` is for `check`, or undefined when no rule reads it (scripts are read only when referenced). */
export function classifyPath(path: string): FileKind | undefined {
  const base = posix.basename(path);
  if (/^(?:Dockerfile|Containerfile)(?:\.[\w.-]+)?$|\.(?:Dockerfile|dockerfile)$/.test(base))
    return 'dockerfile';
  if (base === 'package.json') return 'package-json';
  if (base === 'package-lock.json' || base === 'npm-shrinkwrap.json') return 'package-lock';
  if (base === 'yarn.lock') return 'yarn-lock';
  if (base === 'pnpm-lock.yaml') return 'pnpm-lock';
  if (base === 'airlock.yaml') return 'airlock-yaml';
  if (base === '.npmrc') return 'npmrc';
  if (
    /^\.github\/workflows\/[^/]+\.ya?ml$/.test(path) ||
    /(?:^|\/)\.github\/workflows\/[^/]+\.ya?ml$/.test(path)
  )
    return 'github-workflow';
  if (base === '.gitlab-ci.yml') return 'gitlab-ci';
  if (/\.ya?ml$/.test(base)) return 'manifest';
  if (/\.(?:c|h|cc|cpp|cxx|hpp)$/.test(base)) return 'c-source';
  if (base === 'Makefile' || base === 'GNUmakefile' || base.endsWith('.mk')) return 'makefile';
  return undefined;
}

/** Scripts npm runs when a package is built or packed (not `start`, `dev` or `test`). */
const BUILD_SCRIPT_RE =
  /^(?:(?:pre|post)?build(?::[\w:.-]+)?|prepare|prepack|postpack|prepublish|prepublishOnly)$/;

/** The commands of a package's build scripts and of every script they run (`npm run x`, `pnpm x`, `yarn x`), with their pre/post hooks. */
export function packageBuildScripts(scripts: Record<string, unknown>): string[] {
  const pending = Object.keys(scripts).filter((n) => BUILD_SCRIPT_RE.test(n));
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop()!;
    const command = scripts[name];
    if (seen.has(name) || typeof command !== 'string') continue;
    seen.add(name);
    for (const m of command.matchAll(
      /\b(?:npm\s+run(?:-script)?|pnpm(?:\s+run)?|yarn(?:\s+run)?|bun\s+run)\s+([\w:.-]+)/g,
    ))
      pending.push(m[1]!, `pre${m[1]!}`, `post${m[1]!}`);
  }
  return [...seen].sort(compareBytes).map((n) => scripts[n] as string);
}

/** Build tools that load a config file from the working directory without naming it. */
const IMPLICIT_CONFIGS: readonly { tool: RegExp; base: string }[] = [
  { tool: /\brollup\b/, base: 'rollup.config' },
  { tool: /\bvite\b/, base: 'vite.config' },
  { tool: /\bvitest\b/, base: 'vitest.config' },
  { tool: /\bwebpack\b/, base: 'webpack.config' },
  { tool: /\besbuild\b/, base: 'esbuild.config' },
  { tool: /\btsup\b/, base: 'tsup.config' },
];
const CONFIG_EXTS = ['js', 'mjs', 'cjs', 'ts', 'mts', 'cts'];

/** Config files a command's build tool loads implicitly from `dir`, among `paths`. */
function implicitConfigs(command: string, dir: string, paths: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const { tool, base } of IMPLICIT_CONFIGS) {
    if (!tool.test(command)) continue;
    for (const ext of CONFIG_EXTS) {
      const p = dir ? `${dir}/${base}.${ext}` : `${base}.${ext}`;
      if (paths.has(p)) out.push(p);
    }
  }
  return out;
}

/** Commands that run during a build, with the directory their relative paths start from. */
function buildCommands(file: SourceFile, kind: FileKind): { command: string; dir: string }[] {
  const dir = posix.dirname(file.path) === '.' ? '' : posix.dirname(file.path);
  switch (kind) {
    case 'package-json': {
      try {
        const pkg = JSON.parse(file.text) as { scripts?: Record<string, unknown> };
        return packageBuildScripts(pkg.scripts ?? {}).map((command) => ({ command, dir }));
      } catch {
        return [];
      }
    }
    case 'dockerfile':
      return file.text
        .split('\n')
        .filter((l) => /^\s*RUN\b/i.test(l) || /^\s+\S/.test(l))
        .map((command) => ({ command, dir }));
    case 'makefile':
      return file.text
        .split('\n')
        .filter((l) => l.startsWith('\t'))
        .map((command) => ({ command, dir }));
    case 'airlock-yaml':
    case 'github-workflow':
    case 'gitlab-ci':
      return file.text
        .split('\n')
        .map((command) => ({ command, dir: kind === 'airlock-yaml' ? dir : '' }));
    default:
      return [];
  }
}

/** Script paths that some build step runs, among `paths`. */
export function referencedScripts(
  files: readonly SourceFile[],
  paths: ReadonlySet<string>,
): string[] {
  const out = new Set<string>();
  for (const f of files) {
    const kind = classifyPath(f.path);
    if (!kind) continue;
    for (const { command, dir } of buildCommands(f, kind)) {
      for (const p of scriptReferences(command, dir))
        if (paths.has(p) && scriptLanguage(p)) out.add(p);
      for (const p of implicitConfigs(command, dir, paths)) out.add(p);
    }
  }
  return [...out].sort(compareBytes);
}

/** The nearest lockfile at or above the directory of `path`. */
function nearestLock(path: string, paths: ReadonlySet<string>): string | undefined {
  let dir = posix.dirname(path);
  for (;;) {
    for (const l of LOCKFILES) {
      const p = dir === '.' ? l : `${dir}/${l}`;
      if (paths.has(p)) return p;
    }
    if (dir === '.' || dir === '') return undefined;
    dir = posix.dirname(dir);
  }
}

/** The nearest `.npmrc` at or above the directory of `path` that sets package-lock=false. */
function nearestNoLockNpmrc(
  path: string,
  byPath: ReadonlyMap<string, SourceFile>,
): string | undefined {
  let dir = posix.dirname(path);
  for (;;) {
    const p = dir === '.' ? '.npmrc' : `${dir}/.npmrc`;
    const text = byPath.get(p)?.text;
    if (text !== undefined) return npmrcDisablesLock(text) ? p : undefined;
    if (dir === '.' || dir === '') return undefined;
    dir = posix.dirname(dir);
  }
}

/** Marks findings silenced by `airlock: ignore <rule> -- reason` comments on their line or the line above. */
function applySuppressions(file: SourceFile, findings: Finding[]): Finding[] {
  const comments = findIgnoreComments(new LineIndex(file.text));
  const extra: Finding[] = [];
  for (const c of comments) {
    const target = findings.find(
      (f) =>
        !f.suppressed &&
        (f.line === c.line || f.line === c.line + 1) &&
        (f.ruleId === c.ruleId || f.ruleId.endsWith(`/${c.ruleId}`)),
    );
    if (!c.reason) {
      extra.push(
        finding(
          RULES.badIgnore,
          file.path,
          { line: c.line, column: 1 },
          `ignore comment for ${c.ruleId} has no reason`,
          `Write \`airlock: ignore ${c.ruleId} -- <why this is acceptable>\`.`,
        ),
      );
    } else if (target) {
      target.suppressed = { reason: c.reason };
    }
  }
  return [...findings, ...extra];
}

/** Options for `analyze`. */
export interface AnalyzeInput {
  /** Every root-relative path in the repository (files not read included). */
  paths: readonly string[];
  /** The text of every classified file and every referenced script. */
  files: readonly SourceFile[];
  /** The host's node version (`v20.19.0`), to judge `engines.node`; omitted, no engines finding. */
  hostNodeVersion?: string;
}

const BUILD_EVIDENCE = [
  'reproducibility proof: `airlock repro` builds twice and proves the outputs bit-for-bit equal',
  'signature, SBOM and provenance: `airlock keygen` once, then `airlock sign <target> --key cosign.key` (or `airlock build --sign`) signs SLSA provenance and CycloneDX/SPDX SBOMs and attaches them to the artifact; `airlock push` carries them',
];

/**
 * Judges a repository from its files alone: runs every rule, applies
 * suppressions, and scores the highest level whose requirements all pass
 * (at most 4; level 5 needs evidence only a build gives). Pure and deterministic.
 */
export function analyze(input: AnalyzeInput): CheckReport {
  const paths = new Set(input.paths);
  const byPath = new Map(input.files.map((f) => [f.path, f]));
  const kinds = new Map<string, FileKind>();
  for (const f of input.files) {
    const k = classifyPath(f.path);
    if (k) kinds.set(f.path, k);
  }
  // `airlock build` always exports SOURCE_DATE_EPOCH to its steps (declared,
  // from git, or a fixed default), so an airlock.yaml counts as setting it.
  const setsSourceDateEpoch = input.files.some((f) => {
    const k = kinds.get(f.path);
    return (
      k === 'airlock-yaml' ||
      ((k === 'makefile' || k === 'github-workflow' || k === 'gitlab-ci') &&
        f.text.includes('SOURCE_DATE_EPOCH'))
    );
  });
  const lockCache = new Map<string, Map<string, LockedPackage>>();
  const all: Finding[] = [];
  const scripts = new Set(referencedScripts(input.files, paths));
  const rootLock = input.paths.some(
    (p) => LOCKFILES.includes(posix.basename(p)) && !p.split('/').includes('node_modules'),
  );
  let scanned = 0;
  for (const file of [...input.files].sort((a, b) => compareBytes(a.path, b.path))) {
    const kind = kinds.get(file.path);
    let found: Finding[] = [];
    switch (kind) {
      case 'dockerfile':
        found = checkDockerfile(file, {
          npmLockfile: nearestLock(file.path, paths) !== undefined,
        });
        break;
      case 'package-json': {
        if (file.path.split('/').includes('node_modules')) break;
        const lock = nearestLock(file.path, paths);
        let locked: Map<string, LockedPackage> | undefined;
        if (lock) {
          const lockDir = posix.dirname(lock);
          const dir = posix.relative(lockDir === '.' ? '' : lockDir, posix.dirname(file.path));
          const key = `${lock}\0${dir}`;
          locked = lockCache.get(key);
          const text = byPath.get(lock)?.text;
          if (!locked && text !== undefined) {
            locked = lockedVersions(lock, text, dir === '.' ? '' : dir);
            lockCache.set(key, locked);
          }
        }
        if (input.hostNodeVersion !== undefined)
          found.push(...checkEnginesNode(file, input.hostNodeVersion));
        const npmrc = lock ? undefined : nearestNoLockNpmrc(file.path, byPath);
        found.push(
          ...checkPackageJson(file, {
            hasLockfile: lock !== undefined,
            ...(locked ? { locked } : {}),
            ...(npmrc ? { npmrcNoLock: npmrc } : {}),
          }),
        );
        break;
      }
      case 'package-lock':
        found = checkPackageLock(file);
        break;
      case 'yarn-lock':
        found = checkYarnLock(file);
        break;
      case 'pnpm-lock':
        found = checkPnpmLock(file);
        break;
      case 'github-workflow':
        found = checkGithubWorkflow(file, { npmLockfile: rootLock });
        break;
      case 'gitlab-ci':
        found = checkGitlabCi(file, { npmLockfile: rootLock });
        break;
      case 'manifest':
        if (!looksLikeManifest(file.path, file.text)) {
          if (!scripts.has(file.path)) continue;
          break;
        }
        found = checkManifest(file);
        break;
      case 'airlock-yaml': {
        const dir = posix.dirname(file.path);
        const lockPath = dir === '.' ? 'airlock.lock' : `${dir}/airlock.lock`;
        const lockText = byPath.get(lockPath)?.text;
        found = checkAirlockYaml(file, {
          hasLock: paths.has(lockPath),
          ...(lockText !== undefined ? { lockText } : {}),
          read: (rel) => byPath.get(dir === '.' ? rel : `${dir}/${rel}`)?.text,
        });
        break;
      }
      case 'c-source':
        found = checkCSource(file, setsSourceDateEpoch);
        break;
      case 'makefile':
      case 'npmrc':
        break;
      default:
        if (!scripts.has(file.path)) continue;
    }
    if (scripts.has(file.path)) found.push(...checkScript(file));
    scanned++;
    all.push(...applySuppressions(file, found));
  }
  const hasConfig = input.files.some((f) => kinds.get(f.path) === 'airlock-yaml');
  if (!hasConfig) {
    // A project-wide finding: it belongs to the repository, not to a file
    // (`file` is empty; SARIF gives it no location).
    all.push(
      finding(
        RULES.noConfig,
        '',
        { line: 1, column: 1 },
        'no airlock.yaml declares a sandboxed, offline build',
        'Run `airlock init` to write one, then `airlock check` again.',
      ),
    );
  }
  all.sort(
    (a, b) =>
      compareBytes(a.file, b.file) ||
      a.line - b.line ||
      a.column - b.column ||
      compareBytes(a.ruleId, b.ruleId),
  );
  const active = all.filter((f) => !f.suppressed);
  const suppressed = all.filter((f) => f.suppressed);
  const level = active.reduce<Level>((lv, f) => (f.caps < lv ? f.caps : lv), 4);
  const gaps: LevelGap[] = ([2, 3, 4, 5] as const).flatMap((lv) => {
    const blockers = [...new Set(active.filter((f) => f.caps < lv).map((f) => f.ruleId))].sort(
      compareBytes,
    );
    if (lv === 5) blockers.push(...BUILD_EVIDENCE);
    return lv > level ? [{ level: lv, blockers }] : [];
  });
  const count = (s: Finding['severity']): number => active.filter((f) => f.severity === s).length;
  return {
    level,
    maxLevelFromFiles: 4,
    buildEvidence: BUILD_EVIDENCE,
    findings: active,
    suppressed,
    gaps,
    filesScanned: scanned,
    summary: {
      error: count('error'),
      warning: count('warning'),
      note: count('note'),
      suppressed: suppressed.length,
    },
  };
}
