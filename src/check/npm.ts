import { posix } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { satisfiesRange } from '../core/semver-range.js';
import { finding, RULES, type Span } from './rules.js';
import {
  JsonSyntaxError,
  LineIndex,
  member,
  memberString,
  parseJsonTree,
  type JsonNode,
} from './text.js';
import type { Finding, SourceFile } from './types.js';

/** What a lockfile resolved one package name to. */
export interface LockedPackage {
  version: string;
  integrity: boolean;
}

/** What package.json rules need to know about the repository around the file. */
export interface PackageJsonContext {
  /** A lockfile sits beside this package.json or in a directory above it. */
  hasLockfile: boolean;
  /** Direct dependencies as the lockfile resolved them, when one was read. */
  locked?: ReadonlyMap<string, LockedPackage>;
  /** The `.npmrc` beside or above this package.json that sets `package-lock=false`, if any. */
  npmrcNoLock?: string;
}

/** True when an `.npmrc` text turns lockfiles off (`package-lock=false`). */
export function npmrcDisablesLock(text: string): boolean {
  return text
    .split('\n')
    .some((l) => /^\s*package-lock\s*=\s*false\s*(?:[#;].*)?$/i.test(l.replace(/\r$/, '')));
}

export const DEPENDENCY_SECTIONS = [
  'dependencies',
  'devDependencies',
  'optionalDependencies',
] as const;

const EXACT_RE = /^=?v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const GIT_RE = /^(?:git\+|git:|github:|gitlab:|bitbucket:|gist:)|^[\w-]+\/[\w.-]+(?:#.*)?$/;

/** The finding for a JSON syntax error, at the offset where parsing stopped. */
export function jsonParseFinding(file: SourceFile, err: unknown): Finding {
  const index = new LineIndex(file.text);
  const at = index.at(err instanceof JsonSyntaxError ? err.offset : 0);
  const msg = err instanceof Error ? err.message : String(err);
  return finding(
    RULES.parseError,
    file.path,
    at,
    `invalid JSON: ${msg}`,
    'Fix the JSON syntax at this position.',
  );
}

/** The finding for a YAML document's first error, with its position. */
export function yamlParseFinding(file: SourceFile, doc: Document.Parsed): Finding | undefined {
  const err = doc.errors[0];
  if (!err) return undefined;
  const pos = err.linePos?.[0] ?? { line: 1, col: 1 };
  return finding(
    RULES.parseError,
    file.path,
    { line: pos.line, column: pos.col },
    `invalid YAML: ${err.message.split('\n')[0] ?? err.code}`,
    'Fix the YAML syntax at this position.',
  );
}

function nodeSpan(index: LineIndex, node: { start: number; end: number }): Span {
  const a = index.at(node.start);
  const b = index.at(node.end);
  return { line: a.line, column: a.column, endLine: b.line, endColumn: b.column };
}

/** Classifies one dependency specifier: exact, range, git, url, file, workspace or alias target. */
export function classifySpec(
  spec: string,
): 'exact' | 'range' | 'git' | 'url' | 'file' | 'workspace' {
  let s = spec.trim();
  if (s.startsWith('npm:')) s = s.slice(s.lastIndexOf('@') + 1);
  if (s.startsWith('workspace:')) return 'workspace';
  if (/^(?:file|link):/.test(s)) return 'file';
  if (/^https?:/.test(s)) return 'url';
  if (GIT_RE.test(s)) return 'git';
  return EXACT_RE.test(s) ? 'exact' : 'range';
}

/** Runs the package.json rules: ranges, unpinned git/URL deps, file: outside the repo, no lockfile. */
export function checkPackageJson(file: SourceFile, ctx: PackageJsonContext): Finding[] {
  let root: JsonNode;
  try {
    root = parseJsonTree(file.text);
  } catch (err) {
    return [jsonParseFinding(file, err)];
  }
  const index = new LineIndex(file.text);
  const out: Finding[] = [];
  let deps = 0;
  let firstSection: Span | undefined;
  for (const section of DEPENDENCY_SECTIONS) {
    const sec = member(root, section);
    if (sec?.value.kind !== 'object') continue;
    firstSection ??= nodeSpan(index, {
      start: sec.keyStart,
      end: sec.keyStart + section.length + 2,
    });
    for (const dep of sec.value.members) {
      deps++;
      if (dep.value.kind !== 'string') continue;
      const spec = dep.value.value;
      const at = nodeSpan(index, dep.value);
      const kind = classifySpec(spec);
      const locked = ctx.locked?.get(dep.key);
      if (kind === 'range') {
        const exact = locked?.version;
        // With a lock that records every direct dependency's exact version and
        // hash, `npm ci`/`--frozen-lockfile` installs exactly that; the range
        // only matters when someone re-resolves the lock.
        const pinnedByLock = locked?.integrity === true;
        out.push(
          finding(
            RULES.npmRange,
            file.path,
            at,
            pinnedByLock
              ? `${section}.${dep.key} is "${spec}", a range; the lockfile pins ${exact} by hash`
              : `${section}.${dep.key} is "${spec}", a range, not an exact version`,
            exact
              ? `Use the version the lockfile resolved: "${exact}" (\`airlock pin\` does this).`
              : 'Use an exact version ("1.2.3"): `npm install --save-exact <name>@<version>`.',
            {
              ...(exact
                ? {
                    replacement: {
                      ...at,
                      endLine: at.endLine!,
                      endColumn: at.endColumn!,
                      text: JSON.stringify(exact),
                    },
                  }
                : {}),
              ...(pinnedByLock ? { severity: 'note' as const, caps: 4 as const } : {}),
            },
          ),
        );
      } else if (kind === 'git' && !/#[0-9a-f]{40}$/.test(spec)) {
        out.push(
          finding(
            RULES.npmUrlDep,
            file.path,
            at,
            `${section}.${dep.key} is "${spec}", a git reference without a commit`,
            'Pin the full commit: `git+https://…/repo.git#<40-hex commit>`.',
          ),
        );
      } else if (kind === 'url' && !locked?.integrity) {
        out.push(
          finding(
            RULES.npmUrlDep,
            file.path,
            at,
            `${section}.${dep.key} is the URL "${spec}" with no integrity hash in a lockfile`,
            'Commit a lockfile that records its `integrity`, or publish it to a registry and depend on an exact version.',
          ),
        );
      } else if (kind === 'file') {
        const rel = spec.replace(/^(?:file|link):/, '');
        const target = posix.normalize(posix.join(posix.dirname(file.path), rel));
        if (target === '..' || target.startsWith('../') || posix.isAbsolute(rel)) {
          out.push(
            finding(
              RULES.npmFileOutside,
              file.path,
              at,
              `${section}.${dep.key} points outside the repository (${spec})`,
              'Move the package into the repository (a workspace) or publish it and depend on an exact version.',
            ),
          );
        }
      }
    }
  }
  if (deps > 0 && !ctx.hasLockfile) {
    out.push(
      finding(
        RULES.npmNoLockfile,
        file.path,
        firstSection ?? { line: 1, column: 1 },
        ctx.npmrcNoLock
          ? `dependencies are declared but no lockfile is committed: ${ctx.npmrcNoLock} sets package-lock=false, so npm never writes one`
          : 'dependencies are declared but no lockfile is committed',
        ctx.npmrcNoLock
          ? `Remove \`package-lock=false\` from ${ctx.npmrcNoLock}, run \`npm install --package-lock-only\` and commit package-lock.json.`
          : 'Run `npm install --package-lock-only` (or `pnpm install --lockfile-only`, `yarn install --mode update-lockfile`) and commit the lockfile.',
      ),
    );
  }
  return out;
}

/** Runs the package-lock.json / npm-shrinkwrap.json rules: integrity, http, lockfileVersion 1. */
export function checkPackageLock(file: SourceFile): Finding[] {
  let root: JsonNode;
  try {
    root = parseJsonTree(file.text);
  } catch (err) {
    return [jsonParseFinding(file, err)];
  }
  const index = new LineIndex(file.text);
  const out: Finding[] = [];
  const version = member(root, 'lockfileVersion');
  if (version?.value.kind === 'number' && version.value.value === 1) {
    out.push(
      finding(
        RULES.lockV1,
        file.path,
        nodeSpan(index, version.value),
        'lockfileVersion is 1',
        'Regenerate with npm ≥ 7: `npm install --package-lock-only --lockfile-version 3`.',
      ),
    );
  }
  const visit = (name: string, entry: JsonNode, keyStart: number): void => {
    if (entry.kind !== 'object') return;
    if (
      member(entry, 'link')?.value.kind === 'boolean' ||
      member(entry, 'inBundle') ||
      member(entry, 'bundled')
    )
      return;
    const resolved = memberString(entry, 'resolved');
    const integrity = memberString(entry, 'integrity');
    const at = nodeSpan(index, { start: keyStart, end: keyStart + JSON.stringify(name).length });
    const pinnedGit = resolved !== undefined && /^git\+|#[0-9a-f]{40}$/.test(resolved);
    if (resolved?.startsWith('http:')) {
      out.push(
        finding(
          RULES.lockHttp,
          file.path,
          at,
          `${name} is resolved over plain http (${resolved})`,
          'Use the https registry URL and regenerate the lock.',
        ),
      );
    }
    const hasVersion = memberString(entry, 'version') !== undefined;
    if (
      !integrity &&
      !pinnedGit &&
      !resolved?.startsWith('file:') &&
      (resolved !== undefined || hasVersion) &&
      name !== ''
    ) {
      out.push(
        finding(
          RULES.lockNoIntegrity,
          file.path,
          at,
          `${name} has no integrity hash`,
          'Regenerate the lock (`rm package-lock.json && npm install --package-lock-only`) so every entry records `integrity`.',
        ),
      );
    }
  };
  const packages = member(root, 'packages');
  if (packages?.value.kind === 'object') {
    for (const m of packages.value.members) if (m.key !== '') visit(m.key, m.value, m.keyStart);
  } else {
    const walk = (deps: JsonNode | undefined): void => {
      if (deps?.kind !== 'object') return;
      for (const m of deps.members) {
        visit(m.key, m.value, m.keyStart);
        walk(member(m.value, 'dependencies')?.value);
      }
    };
    walk(member(root, 'dependencies')?.value);
  }
  return out;
}

/** Runs the yarn.lock rule (classic and berry): entries without `integrity`/`checksum`. */
export function checkYarnLock(file: SourceFile): Finding[] {
  const out: Finding[] = [];
  const lines = file.text.split('\n');
  let header: { line: number; text: string } | undefined;
  let body: string[] = [];
  const flush = (): void => {
    if (!header || header.text.startsWith('__metadata')) return;
    const b = body.join('\n');
    const resolved = /^\s+(?:resolved|resolution):?\s+"?([^"\n]+)"?/m.exec(b)?.[1];
    const local =
      /linkType:\s*soft/.test(b) ||
      /@(?:workspace|link|portal|file):/.test(resolved ?? header.text);
    if (resolved && !local && !/^\s+(?:integrity|checksum):?\s+\S/m.test(b)) {
      const name = header.text.replace(/:$/, '').replace(/^"|"$/g, '').split(',')[0]!.trim();
      out.push(
        finding(
          RULES.lockNoIntegrity,
          file.path,
          { line: header.line, column: 1, endColumn: header.text.length + 1 },
          `${name} has no integrity/checksum`,
          'Regenerate the lock with a current yarn (`yarn install --mode update-lockfile`) so every entry carries a checksum.',
        ),
      );
    }
  };
  lines.forEach((raw, i) => {
    const text = raw.replace(/\r$/, '');
    if (/^[^\s#].*:$/.test(text)) {
      flush();
      header = { line: i + 1, text };
      body = [];
    } else if (header) body.push(text);
  });
  flush();
  return out;
}

/** Runs the pnpm-lock.yaml rule: package resolutions without `integrity`. */
export function checkPnpmLock(file: SourceFile): Finding[] {
  const lc = new LineCounter();
  const doc = parseDocument(file.text, { lineCounter: lc });
  const bad = yamlParseFinding(file, doc);
  if (bad) return [bad];
  const out: Finding[] = [];
  const packages = doc.get('packages', true);
  if (!isMap(packages)) return out;
  for (const pair of packages.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const res = isMap(pair.value) ? pair.value.get('resolution', true) : undefined;
    if (!isMap(res)) continue;
    if (
      res.has('integrity') ||
      res.has('directory') ||
      res.get('type') === 'directory' ||
      res.has('commit')
    )
      continue;
    const pos = lc.linePos(isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0);
    out.push(
      finding(
        RULES.lockNoIntegrity,
        file.path,
        { line: pos.line, column: pos.col, endColumn: pos.col + key.length },
        `${key} has no integrity hash`,
        'Regenerate the lock with `pnpm install --lockfile-only` so every tarball records `integrity`.',
      ),
    );
  }
  return out;
}

/** The versions a lockfile resolved for the direct dependencies of the package at `dir` ('' for the root). */
export function lockedVersions(
  lockPath: string,
  text: string,
  dir = '',
): Map<string, LockedPackage> {
  const out = new Map<string, LockedPackage>();
  const base = posix.basename(lockPath);
  try {
    if (base === 'package-lock.json' || base === 'npm-shrinkwrap.json') {
      const lock = JSON.parse(text) as {
        packages?: Record<string, { version?: string; integrity?: string }>;
        dependencies?: Record<string, { version?: string; integrity?: string }>;
      };
      const prefix = dir ? `${dir}/node_modules/` : 'node_modules/';
      for (const [key, v] of Object.entries(lock.packages ?? {})) {
        const name = key.startsWith(prefix) ? key.slice(prefix.length) : undefined;
        if (name && !name.includes('/node_modules/') && v.version)
          out.set(name, { version: v.version, integrity: Boolean(v.integrity) });
      }
      if (!dir) {
        for (const [name, v] of Object.entries(lock.dependencies ?? {})) {
          if (!out.has(name) && v.version && EXACT_RE.test(v.version))
            out.set(name, { version: v.version, integrity: Boolean(v.integrity) });
        }
      }
    } else if (base === 'yarn.lock') {
      const re =
        /^"?((?:@[^@\s/]+\/)?[^@\s"]+)@[^\n]*:\n(?:[ \t]+[^\n]*\n)*?[ \t]+version:?\s+"?([^"\n]+)"?/gm;
      for (const m of text.matchAll(re))
        if (!out.has(m[1]!)) out.set(m[1]!, { version: m[2]!, integrity: true });
    } else if (base === 'pnpm-lock.yaml') {
      const doc = parseDocument(text).toJS() as {
        importers?: Record<string, Record<string, Record<string, { version?: string } | string>>>;
        dependencies?: Record<string, { version?: string } | string>;
        devDependencies?: Record<string, { version?: string } | string>;
      };
      const imp = doc.importers?.[dir || '.'] ?? {
        dependencies: doc.dependencies ?? {},
        devDependencies: doc.devDependencies ?? {},
      };
      for (const section of Object.values(imp)) {
        for (const [name, v] of Object.entries(section ?? {})) {
          const version = (typeof v === 'string' ? v : (v.version ?? '')).split('(')[0]!;
          if (EXACT_RE.test(version)) out.set(name, { version, integrity: true });
        }
      }
    }
  } catch {
    // An unreadable lock resolves nothing; its own rule reports the parse error.
  }
  return out;
}

/** The engines.node finding for a package.json whose range the host node version does not satisfy. */
export function checkEnginesNode(file: SourceFile, hostNodeVersion: string): Finding[] {
  let root: JsonNode;
  try {
    root = parseJsonTree(file.text);
  } catch {
    return [];
  }
  const node = member(member(root, 'engines')?.value, 'node')?.value;
  if (node?.kind !== 'string') return [];
  if (satisfiesRange(hostNodeVersion, node.value) !== false) return [];
  return [
    finding(
      RULES.npmEnginesNode,
      file.path,
      nodeSpan(new LineIndex(file.text), node),
      `engines.node is "${node.value}" but this machine's node is ${hostNodeVersion}`,
      `Build with a node that satisfies "${node.value}" (a toolchain image, or install it on the host), or correct engines.node.`,
    ),
  ];
}
