import { resolve as resolvePath, dirname } from 'node:path';
import { LineCounter, Parser, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { YAMLMap } from 'yaml';
import type { z } from 'zod';
import { Locator, keyName } from './locate.js';
import type { PathSegment } from './locate.js';
import type {
  ConfigProblem,
  DepConfig,
  ImageConfig,
  ProjectConfig,
  RemoteCacheConfig,
  TargetConfig,
} from './model.js';
import { CONFIG_VERSION } from './model.js';
import { EXAMPLES, ProblemList, describeValue } from './problems.js';
import {
  checkName,
  checkRules,
  normalizeDepPath,
  normalizeGlob,
  normalizeSha256,
} from './rules.js';
import { readAuditConfig } from './audit.js';
import { readEnvironments } from './environments.js';
import { targetLimits } from './limits.js';
import { KNOWN_KEYS, projectSchema, remoteCacheSchema } from './schema.js';
import type { ParsedProject } from './schema.js';
import { didYouMean } from './suggest.js';

/** The result of reading one airlock.yaml: a config only when there are no problems. */
export interface ConfigAnalysis {
  config: ProjectConfig | undefined;
  problems: ConfigProblem[];
  /** True when the YAML itself did not parse (the problems are syntax errors). */
  syntax: boolean;
}

/** Pure: parses and validates text; returns every problem at once (never throws for bad input). */
export function parseConfig(
  text: string,
  file: string,
): { config: ProjectConfig | undefined; problems: ConfigProblem[] } {
  const { config, problems } = analyzeConfig(text, file);
  return { config, problems };
}

/** What `analyzeConfig` may ask about the project tree (given by the caller that reads the disk). */
export interface ConfigTreeFacts {
  /** True when the sources glob (normalised, as written) matches at least one file of the project. */
  sourceMatches(pattern: string): boolean;
}

/**
 * Like parseConfig, and also says whether the problems are YAML syntax errors.
 * With `tree`, a sources glob that matches no file is one more problem of the
 * same list, reported together with every other problem of the file.
 */
export function analyzeConfig(text: string, file: string, tree?: ConfigTreeFacts): ConfigAnalysis {
  // The YAML composer recurses once per level: refuse absurd nesting before it runs.
  const deep = deepestNesting(text);
  if (deep.depth > MAX_NESTING) {
    const lines = new LineCounter();
    const doc = parseDocument('', { lineCounter: lines });
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1))
      lines.addNewLine(i + 1);
    const problems = new ProblemList(file, new Locator(doc, lines, text));
    problems.addAt(
      deep.offset,
      '',
      `the YAML nests ${deep.depth > MAX_NESTING * 4 ? 'far ' : ''}deeper than ${MAX_NESTING} levels`,
      'airlock.yaml needs only a few levels of lists and mappings: flatten this value',
    );
    return { config: undefined, problems: problems.sorted(), syntax: true };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    keepSourceTokens: true,
    lineCounter: lines,
    uniqueKeys: false,
    prettyErrors: false,
    // The library never prints: yaml's warnings would go to process.emitWarning.
    logLevel: 'silent',
  });
  const problems = new ProblemList(file, new Locator(doc, lines, text));

  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      problems.addAt(
        syntaxOffset(text, err.code, err.message, err.pos[0]),
        '',
        `YAML syntax error: ${firstLine(err.message)}`,
        syntaxFix(err.code),
      );
    }
    return { config: undefined, problems: problems.sorted(), syntax: true };
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    problems.add(
      [],
      'value',
      'the file is empty',
      `start with "${EXAMPLES.version}", a name and targets (or run \`airlock init\`)`,
    );
    return { config: undefined, problems: problems.sorted(), syntax: false };
  }
  if (!isMap(root)) {
    problems.add(
      [],
      'value',
      `the file must be a mapping of keys, not ${isSeq(root) ? 'a list' : 'a single value'}`,
      `start with "${EXAMPLES.version}", a name and targets`,
    );
    return { config: undefined, problems: problems.sorted(), syntax: false };
  }

  checkDuplicateKeys(problems, root, []);
  const suggested = new Set<string>();
  const targetNames = checkKeys(problems, root, suggested);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    problems.add(
      [],
      'value',
      `the document cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      'remove the aliases (*name) that expand too far',
    );
    return { config: undefined, problems: problems.sorted(), syntax: false };
  }

  const result = projectSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      reportIssue(problems, issue, [], raw, suggested);
    }
  }
  checkRules(problems, raw, targetNames);
  const environments = readEnvironments(
    problems,
    (raw as { environments?: unknown } | null)?.environments,
    dirname(resolvePath(file)),
  );
  const audit = readAuditConfig(
    problems,
    (raw as { audit?: unknown } | null)?.audit,
    dirname(resolvePath(file)),
  );
  if (tree) checkSourcesMatch(problems, raw, tree);

  if (problems.items.length > 0 || !result.success) {
    return { config: undefined, problems: problems.sorted(), syntax: false };
  }
  const config = buildModel(result.data, targetNames, file);
  if (environments !== undefined && environments.size > 0) config.environments = environments;
  if (audit !== undefined) config.audit = audit;
  return { config, problems: [], syntax: false };
}

/** Reports every sources glob (not a negation, not already invalid) that matches no file. */
function checkSourcesMatch(problems: ProblemList, raw: unknown, tree: ConfigTreeFacts): void {
  const targets = (raw as { targets?: unknown } | null)?.targets;
  if (typeof targets !== 'object' || targets === null || Array.isArray(targets)) return;
  const invalid = new Set(problems.items.map((p) => p.path));
  for (const [name, t] of Object.entries(targets as Record<string, unknown>)) {
    const sources = (t as { sources?: unknown } | null)?.sources;
    if (!Array.isArray(sources)) continue;
    sources.forEach((pattern: unknown, i) => {
      const path: PathSegment[] = ['targets', name, 'sources', i];
      if (typeof pattern !== 'string' || pattern.startsWith('!')) return;
      if (invalid.has(`targets.${name}.sources[${i}]`)) return;
      if (tree.sourceMatches(normalizeGlob(pattern))) return;
      problems.add(
        path,
        'value',
        `sources pattern "${pattern}" matches no file`,
        'fix the pattern or add the missing files (outputs of targets never count as sources)',
      );
    });
  }
}

/**
 * Where to point for a YAML error: the parser reports an unclosed quote at the
 * end of the input, so point at the quote that opened it instead.
 */
function syntaxOffset(text: string, code: string, message: string, offset: number): number {
  const quote = code === 'MISSING_CHAR' ? /closing (["'])quote/.exec(message)?.[1] : undefined;
  if (quote === undefined) return offset;
  for (let i = Math.min(offset, text.length) - 1; i >= 0; i--) {
    if (text[i] !== quote) continue;
    if (quote === '"' && text[i - 1] === '\\') continue;
    if (quote === "'" && text[i - 1] === "'") {
      i--; // an escaped '' pair inside the scalar
      continue;
    }
    return i;
  }
  return offset;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** A fix for each kind of YAML syntax error the parser reports. */
function syntaxFix(code: string): string {
  switch (code) {
    case 'TAB_AS_INDENT':
      return 'indent with spaces, not tabs';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return 'check the indentation and closing brackets or quotes on this line';
    case 'MULTIPLE_DOCS':
      return 'keep a single document: remove the extra "---" and what follows, or merge it in';
    case 'DUPLICATE_KEY':
      return 'remove one of the duplicate keys';
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return 'put a space after the colon, or quote the key';
    default:
      return 'fix the YAML syntax here (indentation, colons, quotes and brackets)';
  }
}

/** Reports every key that appears twice in the same mapping, anywhere in the document. */
function checkDuplicateKeys(problems: ProblemList, node: unknown, path: PathSegment[]): void {
  if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const name = keyName(pair.key);
      if (name !== undefined) {
        const firstLine = seen.get(name);
        if (firstLine !== undefined) {
          problems.add(
            [...path, name],
            'key',
            `duplicate key "${name}" (first at line ${firstLine})`,
            `remove one of the two "${name}" entries or merge them`,
          );
        } else {
          const start = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
          seen.set(name, start === undefined ? 0 : problems.position(start).line);
        }
        // Only the last duplicate is in the parsed value; still walk every one.
        checkDuplicateKeys(problems, pair.value, [...path, name]);
      }
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => checkDuplicateKeys(problems, item, [...path, i]));
  }
}

/** Reports keys of `map` that are not in `known`, with the closest known key as a suggestion. */
function checkUnknownKeys(
  problems: ProblemList,
  map: YAMLMap,
  path: PathSegment[],
  known: readonly string[],
  where: string,
  suggested: Set<string>,
): void {
  for (const pair of map.items) {
    if (!isPair(pair)) continue;
    const name = keyName(pair.key);
    if (name === undefined) {
      problems.add(
        path,
        'value',
        `${where} has a key that is not a plain name`,
        'use plain names as keys',
      );
      continue;
    }
    if (known.includes(name)) continue;
    const hit = didYouMean(name, known);
    if (hit !== undefined) suggested.add(JSON.stringify([...path, hit]));
    const extra =
      hit === undefined
        ? `remove it; ${where} allows ${known.join(', ')}`
        : `rename it to "${hit}"`;
    problems.add(
      [...path, name],
      'key',
      `unknown key "${name}" in ${where}${hit === undefined ? '' : `; did you mean "${hit}"?`}`,
      extra,
    );
  }
}

/** Checks keys against the schema level by level; returns the target names in file order. */
function checkKeys(problems: ProblemList, root: YAMLMap, suggested: Set<string>): string[] {
  checkUnknownKeys(problems, root, [], KNOWN_KEYS.root, 'the top level', suggested);
  const mirrors = root.get('mirrors', true);
  if (isMap(mirrors))
    checkUnknownKeys(problems, mirrors, ['mirrors'], KNOWN_KEYS.mirrors, 'mirrors', suggested);
  const files = root.get('files', true);
  if (isMap(files)) {
    for (const pair of files.items) {
      const name = isPair(pair) ? keyName(pair.key) : undefined;
      if (name !== undefined && isMap(pair.value))
        checkUnknownKeys(
          problems,
          pair.value,
          ['files', name],
          KNOWN_KEYS.file,
          `file "${name}"`,
          suggested,
        );
    }
  }
  const cache = root.get('cache', true);
  if (isMap(cache)) {
    checkUnknownKeys(problems, cache, ['cache'], KNOWN_KEYS.cache, 'cache', suggested);
    const remote = cache.get('remote', true);
    if (isMap(remote))
      checkUnknownKeys(
        problems,
        remote,
        ['cache', 'remote'],
        KNOWN_KEYS.remote,
        'cache.remote',
        suggested,
      );
  }
  const names: string[] = [];
  const targets = root.get('targets', true);
  if (!isMap(targets)) return names;
  for (const pair of targets.items) {
    if (!isPair(pair)) continue;
    const name = keyName(pair.key);
    if (name === undefined) {
      problems.add(
        ['targets'],
        'value',
        'a target name is not a plain name',
        'use plain names as target keys',
      );
      continue;
    }
    if (!names.includes(name)) names.push(name);
    const base: PathSegment[] = ['targets', name];
    checkName(problems, base, 'target', name);
    const target = pair.value;
    if (!isMap(target)) continue;
    checkUnknownKeys(problems, target, base, KNOWN_KEYS.target, `target "${name}"`, suggested);
    const toolchain = target.get('toolchain', true);
    if (isMap(toolchain)) {
      checkUnknownKeys(
        problems,
        toolchain,
        [...base, 'toolchain'],
        KNOWN_KEYS.toolchain,
        'toolchain',
        suggested,
      );
    }
    const deps = target.get('deps', true);
    if (isSeq(deps)) {
      deps.items.forEach((dep, i) => {
        if (isMap(dep)) {
          checkUnknownKeys(problems, dep, [...base, 'deps', i], KNOWN_KEYS.dep, 'a dep', suggested);
        }
      });
    }
    checkEnvKeys(problems, target.get('env', true), [...base, 'env']);
    const limits = target.get('limits', true);
    if (isMap(limits)) {
      checkUnknownKeys(
        problems,
        limits,
        [...base, 'limits'],
        KNOWN_KEYS.limits,
        'limits',
        suggested,
      );
    }
    const npm = target.get('npm', true);
    if (isMap(npm))
      checkUnknownKeys(problems, npm, [...base, 'npm'], KNOWN_KEYS.npm, 'npm', suggested);
    const tests = target.get('tests', true);
    if (isSeq(tests))
      tests.items.forEach((item, i) => {
        if (isMap(item))
          checkUnknownKeys(
            problems,
            item,
            [...base, 'tests', i],
            KNOWN_KEYS.test,
            'a test',
            suggested,
          );
      });
    const image = target.get('image', true);
    if (isMap(image)) {
      checkUnknownKeys(problems, image, [...base, 'image'], KNOWN_KEYS.image, 'image', suggested);
      checkEnvKeys(problems, image.get('env', true), [...base, 'image', 'env']);
    }
  }
  return names;
}

function checkEnvKeys(problems: ProblemList, env: unknown, path: PathSegment[]): void {
  if (!isMap(env)) return;
  for (const pair of env.items) {
    if (!isPair(pair)) continue;
    const name = keyName(pair.key);
    if (name !== undefined) checkName(problems, [...path, name], 'env', name);
  }
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** The key a path ends in (`steps` for `targets.web.steps[0]`). */
function fieldName(path: readonly PathSegment[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const seg = path[i];
    if (typeof seg === 'string') return seg;
  }
  return '';
}

/** A short label for the thing at `path`: `"steps"` or `steps[0]`. */
function label(path: readonly PathSegment[]): string {
  const last = path[path.length - 1];
  if (typeof last === 'number') return `${fieldName(path)}[${last}]`;
  return `"${last ?? ''}"`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  string: 'a string',
  number: 'a whole number',
  int: 'a whole number',
};

/** Turns one zod issue into a located problem with a fix. */
function reportIssue(
  problems: ProblemList,
  issue: z.core.$ZodIssue,
  prefix: PathSegment[],
  raw: unknown,
  suggested: Set<string>,
): void {
  const path: PathSegment[] = [
    ...prefix,
    ...issue.path.map((s) => (typeof s === 'number' ? s : String(s))),
  ];
  const value = valueAt(raw, path);
  const field = fieldName(path);
  const isEnvValue = path.length >= 2 && path[path.length - 2] === 'env';
  const example =
    path.length === 2 && path[0] === 'targets'
      ? `${field}: { sources: ["src/**"], steps: ["make"], outputs: ["dist/**"] }`
      : field === 'image' && path[path.length - 2] === 'toolchain'
        ? 'image: "registry.example.com/tools/node@sha256:<digest>"'
        : (EXAMPLES[field] ?? `${field}: …`);

  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) {
        if (suggested.has(JSON.stringify(path))) return; // already reported as a misspelt key
        problems.add(path, 'key', `missing required key "${field}"`, `add ${example}`);
        return;
      }
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      if (value === null) {
        problems.add(
          path,
          'key',
          `${label(path)} has no value; expected ${expected}`,
          isEnvValue ? `quote an empty value: ${field}: ""` : `write ${example}, or remove the key`,
        );
        return;
      }
      if (
        issue.expected === 'string' &&
        (typeof value === 'number' || typeof value === 'boolean')
      ) {
        const quoted = JSON.stringify(problems.source(path) ?? String(value));
        problems.add(
          path,
          'value',
          isEnvValue
            ? `the value of ${field} must be a string, not ${describeValue(value)}`
            : `${label(path)} must be a string, not ${describeValue(value)}`,
          isEnvValue ? `quote it: ${field}: ${quoted}` : `quote it: ${quoted}`,
        );
        return;
      }
      if (issue.expected === 'array' && typeof value === 'string') {
        problems.add(
          path,
          'value',
          `${label(path)} must be a list, not a string`,
          `write it as a list: ${field}: [${JSON.stringify(value)}]`,
        );
        return;
      }
      if (
        (issue.expected === 'number' || issue.expected === 'int') &&
        field === 'sourceDateEpoch'
      ) {
        const fix =
          typeof value === 'string' && /^\d+$/.test(value)
            ? `write it without quotes: sourceDateEpoch: ${value}`
            : `write seconds since 1970-01-01 as an unquoted integer, e.g. ${EXAMPLES.sourceDateEpoch}`;
        problems.add(
          path,
          'value',
          `"sourceDateEpoch" must be a whole number of seconds, not ${describeValue(value)}`,
          fix,
        );
        return;
      }
      problems.add(
        path,
        'value',
        `${label(path)} must be ${expected}, not ${describeValue(value)}`,
        `write it like ${example}`,
      );
      return;
    }
    case 'too_small': {
      if (issue.origin === 'array') {
        problems.add(
          path,
          'value',
          `${label(path)} is empty; at least one entry is required`,
          `list at least one, e.g. ${example}`,
        );
      } else if (issue.origin === 'string') {
        problems.add(
          path,
          'value',
          `${label(path)} is an empty string`,
          'write a value or remove the entry',
        );
      } else {
        problems.add(
          path,
          'value',
          `${label(path)} must not be negative`,
          `write seconds since 1970-01-01, e.g. ${EXAMPLES.sourceDateEpoch}`,
        );
      }
      return;
    }
    case 'invalid_value': {
      if (field === 'version') {
        problems.add(
          path,
          'value',
          `unsupported version ${JSON.stringify(value)}; this Airlock reads version ${CONFIG_VERSION}`,
          `set "version: ${CONFIG_VERSION}" (or upgrade Airlock if the file is newer)`,
        );
        return;
      }
      problems.add(path, 'value', issue.message, `write it like ${example}`);
      return;
    }
    case 'invalid_union': {
      // A dep: a name, or { target, path }. Show the issues of the form the user chose.
      const branch = typeof value === 'object' && value !== null ? issue.errors[1] : undefined;
      if (branch !== undefined && !Array.isArray(value)) {
        for (const inner of branch) reportIssue(problems, inner, path, raw, suggested);
        return;
      }
      problems.add(
        path,
        'value',
        `a dep must be a target name or { target, path }, not ${describeValue(value)}`,
        'write "- lib" or "- { target: lib, path: vendor/lib }"',
      );
      return;
    }
    default:
      problems.add(path, 'value', issue.message, `write it like ${example}`);
  }
}

/** The model with defaults filled in, targets in file order, globs and dep paths normalized. */
function buildModel(data: ParsedProject, names: string[], file: string): ProjectConfig {
  const absolute = resolvePath(file);
  const targets = new Map<string, TargetConfig>();
  for (const name of names) {
    const t = data.targets[name];
    if (t === undefined) continue;
    const deps: DepConfig[] = t.deps.map((d) =>
      typeof d === 'string'
        ? { target: d, path: '.' }
        : { target: d.target, path: normalizeDepPath(d.path ?? '.') },
    );
    const target: TargetConfig = {
      name,
      sources: t.sources.map(normalizeGlob),
      exclude: t.exclude.map(normalizeGlob),
      deps,
      steps: [...t.steps],
      outputs: t.outputs.map(normalizeGlob),
      env: { ...t.env },
      toolchain: {
        host: [...new Set(t.toolchain.host)],
        ...(t.toolchain.image === undefined ? {} : { image: t.toolchain.image.trim() }),
      },
      limits: targetLimits(t.timeout, t.limits),
    };
    if (t.sourceDateEpoch !== undefined) target.sourceDateEpoch = t.sourceDateEpoch;
    if (t.image !== undefined) target.image = buildImage(t.image);
    if (t.npm !== undefined)
      target.npm = {
        lockfile: normalizeGlob(t.npm.lockfile),
        scripts: [...new Set(t.npm.scripts)],
        skipScripts: [...new Set(t.npm.skipScripts)],
        installer: t.npm.installer,
      };
    if (t.files !== undefined)
      target.files = Object.entries(t.files).map(([file, path]) => ({
        name: file,
        path: normalizeDepPath(path),
      }));
    if (t.tests !== undefined)
      target.tests = t.tests.map((x) => {
        const entry = typeof x === 'string' ? { step: x } : x;
        return {
          step: t.steps.indexOf(entry.step),
          ...(entry.junit === undefined ? {} : { junit: normalizeGlob(entry.junit) }),
        };
      });
    targets.set(name, target);
  }
  const config: ProjectConfig = {
    file: absolute,
    root: dirname(absolute),
    name: data.name,
    targets,
    files: new Map(
      Object.entries(data.files ?? {}).map(([name, f]) => [
        name,
        {
          name,
          url: f.url.trim(),
          ...(f.sha256 === undefined ? {} : { sha256: normalizeSha256(f.sha256) }),
          executable: f.executable,
          extract: f.extract,
        },
      ]),
    ),
    mirrors: data.mirrors?.npm === undefined ? {} : { npm: data.mirrors.npm.trim() },
  };
  if (data.sourceDateEpoch !== undefined) config.sourceDateEpoch = data.sourceDateEpoch;
  const remote = remoteCacheModel(data.cache?.remote, dirname(absolute));
  if (remote !== undefined) config.cache = { remote };
  return config;
}

/** The remote cache in its long form; the short form is a read-only cache trusting nobody. */
function remoteCacheModel(raw: unknown, root: string): RemoteCacheConfig | undefined {
  if (typeof raw === 'string') {
    return { repository: raw.trim(), mode: 'read', trust: [], publishLogs: false };
  }
  const parsed = remoteCacheSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const r = parsed.data;
  return {
    repository: r.repository.trim(),
    mode: r.mode,
    trust: r.trust === 'any' ? 'any' : r.trust.map((f) => resolvePath(root, f)),
    ...(r.signingKey !== undefined ? { signingKey: resolvePath(root, r.signingKey) } : {}),
    publishLogs: r.publishLogs,
  };
}

function buildImage(image: NonNullable<ParsedProject['targets'][string]['image']>): ImageConfig {
  const out: ImageConfig = {};
  if (image.base !== undefined) out.base = image.base.trim();
  if (image.entrypoint !== undefined) out.entrypoint = [...image.entrypoint];
  if (image.cmd !== undefined) out.cmd = [...image.cmd];
  if (image.env !== undefined) out.env = { ...image.env };
  if (image.workingDir !== undefined) out.workingDir = image.workingDir;
  if (image.exposedPorts !== undefined) out.exposedPorts = [...image.exposedPorts];
  return out;
}

/** Deeper than any real airlock.yaml needs, far below what would exhaust the stack. */
const MAX_NESTING = 64;

interface CstNode {
  offset?: number;
  value?: CstNode;
  items?: { key?: CstNode | null; value?: CstNode | null }[];
}

/**
 * The deepest nesting of lists and mappings in `text` and where it is,
 * found from yaml's concrete syntax tree without recursion (its parser keeps
 * its own stack, so this is safe on hostile input); stops counting past a limit.
 */
function deepestNesting(text: string): { depth: number; offset: number } {
  let best = { depth: 0, offset: 0 };
  for (const token of new Parser().parse(text)) {
    const stack: [CstNode, number][] = [[token, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      if (depth > best.depth) best = { depth, offset: node.offset ?? 0 };
      if (best.depth > MAX_NESTING * 4) return best;
      if (Array.isArray(node.items)) {
        for (const item of node.items) {
          if (item.key) stack.push([item.key, depth + 1]);
          if (item.value) stack.push([item.value, depth + 1]);
        }
      } else if (node.value && typeof node.value === 'object') stack.push([node.value, depth]);
    }
  }
  return best;
}
