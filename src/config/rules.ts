import { isAirlockError } from '../core/errors.js';
import { parseRegistryRef } from '../registry/reference.js';
import { checkLimits } from './limits.js';
import { didYouMean, didYouMeanText } from './suggest.js';
import type { PathSegment } from './locate.js';
import type { ProblemList } from './problems.js';
import { EXAMPLES } from './problems.js';

export const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]*$/;
export const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const HOST_TOOL = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const PORT = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/;

/** A glob without its leading `./`, the form stored in the model and compared across targets. */
export function normalizeGlob(glob: string): string {
  let g = glob;
  while (g.startsWith('./')) g = g.slice(2);
  return g;
}

/** A dep path without `.` or empty segments; '.' when nothing is left. */
export function normalizeDepPath(path: string): string {
  const segs = path.split('/').filter((s) => s !== '' && s !== '.');
  return segs.length === 0 ? '.' : segs.join('/');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isAbsoluteLike(p: string): boolean {
  return p.startsWith('/') || p.startsWith('~') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\');
}

/** True when a `..` path segment appears anywhere, including inside `{a,..}` braces. */
function climbsOut(p: string): boolean {
  return /(^|[/\\{,])\.\.($|[/\\},])/.test(p);
}

/** A valid name close to `name`, for fixes: invalid characters become '-'. */
export function slugify(name: string, lowercase: boolean): string {
  const base = lowercase ? name.toLowerCase() : name;
  const slug = base
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/-+$/, '');
  return slug === '' ? 'app' : slug;
}

/** Reports a project, target, env or tool name that breaks its pattern. */
export function checkName(
  problems: ProblemList,
  path: readonly PathSegment[],
  kind: 'project' | 'target' | 'env',
  name: string,
): void {
  if (kind === 'project' && !PROJECT_NAME.test(name)) {
    problems.add(
      path,
      'value',
      `invalid project name "${name}": use lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`,
      `rename it, e.g. name: ${slugify(name, true)}`,
    );
  } else if (kind === 'target' && !TARGET_NAME.test(name)) {
    problems.add(
      path,
      'key',
      `invalid target name "${name}": use letters, digits, ".", "_" or "-", starting with a letter or digit`,
      `rename it, e.g. ${slugify(name, false)}`,
    );
  } else if (kind === 'env' && !ENV_NAME.test(name)) {
    const suggestion = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
    problems.add(
      path,
      'key',
      `invalid environment variable name "${name}": use letters, digits and "_", not starting with a digit`,
      `rename it, e.g. ${suggestion === '' ? 'MY_VAR' : suggestion}`,
    );
  }
}

const SHA256 = /^(?:sha256:)?([0-9a-f]{64})$/;

/** `sha256:<hex>` from either that form or the bare 64 hex digits. */
export function normalizeSha256(value: string): string {
  const m = SHA256.exec(value.trim().toLowerCase());
  return m ? `sha256:${m[1]}` : value.trim();
}

/** Reports a target's `files:` naming an undeclared file, or a path that is not inside the project. */
function checkTargetFiles(
  problems: ProblemList,
  base: PathSegment[],
  files: Record<string, unknown>,
  declared: unknown,
): void {
  const names = isRecord(declared) ? Object.keys(declared) : [];
  for (const [name, path] of Object.entries(files)) {
    if (!names.includes(name))
      problems.add(
        [...base, 'files', name],
        'key',
        `"${name}" is not declared under the top-level files:${didYouMeanText(name, names)}`,
        names.length > 0
          ? `use one of: ${names.join(', ')}`
          : `declare it, e.g. files: { ${name}: { url: "https://example.com/${name}.tar.gz" } }`,
      );
    if (typeof path !== 'string' || path === '') continue;
    if (isAbsoluteLike(path) || climbsOut(path) || normalizeDepPath(path) === '.')
      problems.add(
        [...base, 'files', name],
        'value',
        `"${path}" is not a path inside the project`,
        `write where the file appears in the build, relative to the project root, e.g. tools/${name}`,
      );
  }
}

/** Reports `files:` entries with a URL that is not http(s) or a malformed sha256, and a bad npm mirror. */
function checkFetchedInputs(problems: ProblemList, raw: Record<string, unknown>): void {
  const checkUrl = (path: PathSegment[], url: unknown): void => {
    if (typeof url !== 'string' || url === '') return;
    let ok: boolean;
    try {
      const u = new URL(url.trim());
      ok =
        (u.protocol === 'https:' || u.protocol === 'http:') &&
        u.username === '' &&
        u.password === '';
    } catch {
      ok = false;
    }
    if (!ok)
      problems.add(
        path,
        'value',
        `"${url}" is not an http(s) URL without credentials`,
        'write a full URL like "https://example.com/tool.tar.gz"; credentials go in .npmrc or the environment, never in airlock.yaml',
      );
  };
  if (isRecord(raw.mirrors)) checkUrl(['mirrors', 'npm'], raw.mirrors.npm);
  if (!isRecord(raw.files)) return;
  for (const [name, f] of Object.entries(raw.files)) {
    if (!TARGET_NAME.test(name))
      problems.add(
        ['files', name],
        'key',
        `invalid file name "${name}": use letters, digits, ".", "_" or "-", starting with a letter or digit`,
        `rename it, e.g. ${slugify(name, false)}`,
      );
    if (!isRecord(f)) continue;
    checkUrl(['files', name, 'url'], f.url);
    if (
      typeof f.sha256 === 'string' &&
      f.sha256 !== '' &&
      !SHA256.test(f.sha256.trim().toLowerCase())
    )
      problems.add(
        ['files', name, 'sha256'],
        'value',
        `"${f.sha256}" is not a sha256 digest`,
        'write "sha256:" and 64 hex digits (`sha256sum` prints them), or remove it and run `airlock lock`',
      );
  }
}

/** Reports a glob that is absolute, climbs out with `..`, or is negated. */
function checkGlob(
  problems: ProblemList,
  path: readonly PathSegment[],
  field: string,
  glob: string,
): void {
  if (isAbsoluteLike(glob)) {
    const relative = glob.replace(/^(?:[A-Za-z]:)?[/\\~]+/, '');
    problems.add(
      path,
      'value',
      `"${glob}" is an absolute path; ${field} globs are relative to the project root`,
      `write it relative to the directory holding airlock.yaml, e.g. "${relative === '' ? '**' : relative}"`,
    );
  } else if (climbsOut(glob)) {
    problems.add(
      path,
      'value',
      `"${glob}" points outside the project with ".."`,
      'list only files inside the project root (the directory holding airlock.yaml); vendor what you need into it',
    );
  } else if (glob.startsWith('!')) {
    const rest = glob.slice(1);
    const fix =
      field === 'sources'
        ? `move it to exclude: ["${rest}"]`
        : field === 'exclude'
          ? 'list what to keep in sources instead of negating an exclude'
          : 'narrow the output glob instead of negating it';
    problems.add(path, 'value', `negated glob "${glob}" is not supported in ${field}`, fix);
  }
}

interface Edge {
  to: string;
  index: number;
}

/**
 * The checks that need more than a type: names, globs and paths inside the
 * project, deps that exist, no self-deps, no cycles, no output declared by
 * two targets. Works on the raw parsed value so that one broken target does
 * not hide the problems of the others.
 */
export function checkRules(problems: ProblemList, raw: unknown, targetNames: string[]): void {
  if (!isRecord(raw)) return;
  if (typeof raw.name === 'string' && raw.name !== '') {
    checkName(problems, ['name'], 'project', raw.name);
  }
  if (isRecord(raw.cache) && raw.cache.remote !== undefined) {
    checkRemoteCacheValue(problems, raw.cache.remote);
  }
  checkFetchedInputs(problems, raw);
  const targets = raw.targets;
  if (!isRecord(targets)) return;
  if (targetNames.length === 0) {
    problems.add(
      ['targets'],
      'key',
      'no targets are declared; at least one is required',
      `declare one, e.g. ${EXAMPLES.targets}`,
    );
    return;
  }
  const known = new Set(targetNames);
  const edges = new Map<string, Edge[]>();
  const outputOwner = new Map<string, string>();

  for (const name of targetNames) {
    const t = targets[name];
    if (!isRecord(t)) continue;
    const base: PathSegment[] = ['targets', name];

    for (const field of ['sources', 'exclude', 'outputs'] as const) {
      const list = t[field];
      if (!Array.isArray(list)) continue;
      list.forEach((glob, i) => {
        if (typeof glob === 'string' && glob !== '')
          checkGlob(problems, [...base, field, i], field, glob);
      });
    }

    checkLimits(problems, base, t);
    if (isRecord(t.npm) && typeof t.npm.lockfile === 'string' && t.npm.lockfile !== '') {
      const lockfile = t.npm.lockfile;
      const at = [...base, 'npm', 'lockfile'];
      if (isAbsoluteLike(lockfile) || climbsOut(lockfile))
        problems.add(
          at,
          'value',
          `"${lockfile}" is not a path inside the project`,
          'write the package-lock.json path relative to the directory holding airlock.yaml, e.g. "package-lock.json"',
        );
      else if (!/(^|\/)((package-lock|npm-shrinkwrap)\.json|pnpm-lock\.yaml)$/.test(lockfile))
        problems.add(
          at,
          'value',
          `"${lockfile}" is not a package-lock.json, npm-shrinkwrap.json or pnpm-lock.yaml`,
          /(^|\/)pnpm-lock\.yml$/.test(lockfile)
            ? `pnpm writes "pnpm-lock.yaml"; did you mean "${lockfile.replace(/\.yml$/, '.yaml')}"?`
            : 'name the npm or pnpm lockfile, e.g. "package-lock.json" or "pnpm-lock.yaml" (`npm install --package-lock-only` or `pnpm install --lockfile-only` creates one)',
        );
    }

    if (isRecord(t.files)) checkTargetFiles(problems, base, t.files, raw.files);

    const steps = t.steps;
    if (Array.isArray(t.tests) && Array.isArray(steps)) {
      t.tests.forEach((test, i) => {
        const entry: Record<string, unknown> = isRecord(test) ? test : { step: test };
        if (typeof entry.step === 'string' && entry.step !== '' && !steps.includes(entry.step))
          problems.add(
            [...base, 'tests', i, ...(isRecord(test) ? ['step'] : [])],
            'value',
            `"${entry.step}" is not one of the target's steps`,
            'name a test step by its command exactly as written under steps, e.g. tests: ["npm test"]',
          );
        const junit = entry.junit;
        if (
          typeof junit === 'string' &&
          junit !== '' &&
          (isAbsoluteLike(junit) || climbsOut(junit))
        )
          problems.add(
            [...base, 'tests', i, 'junit'],
            'value',
            `"${junit}" is not a path inside the project`,
            'write the JUnit report path relative to the directory holding airlock.yaml, among the outputs, e.g. "out/junit.xml"',
          );
      });
    }
    if (Array.isArray(steps)) {
      steps.forEach((step, i) => {
        if (typeof step === 'string' && step !== '' && step.trim() === '') {
          problems.add(
            [...base, 'steps', i],
            'value',
            'the step is blank',
            'write a shell command or remove the step',
          );
        }
      });
    }

    const toolchain = t.toolchain;
    if (isRecord(toolchain) && Array.isArray(toolchain.host)) {
      toolchain.host.forEach((tool, i) => {
        if (typeof tool !== 'string' || tool === '' || HOST_TOOL.test(tool)) return;
        const path = [...base, 'toolchain', 'host', i];
        if (tool.includes('/')) {
          const bare =
            tool
              .split('/')
              .filter((s) => s !== '')
              .pop() ?? tool;
          problems.add(
            path,
            'value',
            `host tools are named, not given by path: "${tool}"`,
            `write "${bare}"; the builder finds it on PATH and pins its binary digest`,
          );
        } else {
          problems.add(
            path,
            'value',
            `invalid host tool name "${tool}"`,
            'use the command name as typed in a shell, e.g. node or gcc',
          );
        }
      });
    }

    if (isRecord(toolchain)) checkToolchainImage(problems, base, toolchain);
    if (isRecord(t.image)) checkImageBase(problems, base, t.image);

    const deps = t.deps;
    const out: Edge[] = [];
    const seenDeps = new Set<string>();
    if (Array.isArray(deps)) {
      deps.forEach((dep, i) => {
        const path: PathSegment[] = [...base, 'deps', i];
        let target: string | undefined;
        let targetPath: PathSegment[] = path;
        if (typeof dep === 'string') target = dep;
        else if (isRecord(dep)) {
          if (typeof dep.target === 'string') target = dep.target;
          targetPath = [...path, 'target'];
          if (typeof dep.path === 'string' && dep.path !== '') {
            if (isAbsoluteLike(dep.path)) {
              problems.add(
                [...path, 'path'],
                'value',
                `dep path "${dep.path}" is absolute; it is where the dep's outputs appear inside the build, relative to the project root`,
                `write it relative, e.g. path: ${normalizeDepPath(dep.path.replace(/^[/\\~]+/, '')) || 'vendor/lib'}`,
              );
            } else if (climbsOut(dep.path)) {
              problems.add(
                [...path, 'path'],
                'value',
                `dep path "${dep.path}" points outside the project with ".."`,
                'choose a directory inside the project, e.g. path: vendor/lib',
              );
            }
          }
        }
        if (target === undefined || target === '') return;
        const depKey = `${target}\0${isRecord(dep) && typeof dep.path === 'string' ? normalizeDepPath(dep.path) : '.'}`;
        if (seenDeps.has(depKey)) {
          problems.add(
            path,
            'value',
            `dep "${target}" is listed twice with the same path`,
            'remove the repeated entry',
          );
          return;
        }
        seenDeps.add(depKey);
        if (target === name) {
          problems.add(
            targetPath,
            'value',
            `target "${name}" depends on itself`,
            `remove "${name}" from its own deps`,
          );
        } else if (!known.has(target)) {
          problems.add(
            targetPath,
            'value',
            `dep "${target}" is not a target in this file${didYouMeanText(target, targetNames)}`,
            `use one of: ${targetNames.join(', ')}`,
          );
        } else {
          out.push({ to: target, index: i });
        }
      });
    }
    edges.set(name, out);

    const outputs = t.outputs;
    if (Array.isArray(outputs)) {
      outputs.forEach((glob, i) => {
        if (typeof glob !== 'string' || glob === '') return;
        const key = normalizeGlob(glob);
        const owner = outputOwner.get(key);
        if (owner === undefined) outputOwner.set(key, name);
        else if (owner !== name) {
          problems.add(
            [...base, 'outputs', i],
            'value',
            `output "${glob}" is also declared by target "${owner}"`,
            `each file has one producer: keep "${glob}" in one target and make the other depend on it`,
          );
        }
      });
    }

    const image = t.image;
    if (isRecord(image)) {
      if (typeof image.workingDir === 'string' && image.workingDir !== '') {
        const wd = image.workingDir;
        if (!wd.startsWith('/') || climbsOut(wd)) {
          problems.add(
            [...base, 'image', 'workingDir'],
            'value',
            `workingDir "${wd}" must be an absolute path inside the image without ".."`,
            `write it absolute, e.g. workingDir: /${normalizeDepPath(wd.replace(/\.\.(\/|$)/g, '')) === '.' ? 'app' : normalizeDepPath(wd.replace(/\.\.(\/|$)/g, ''))}`,
          );
        }
      }
      if (Array.isArray(image.exposedPorts)) {
        image.exposedPorts.forEach((port, i) => {
          if (typeof port !== 'string') return;
          const m = PORT.exec(port);
          const n = m === null ? NaN : Number(m[1]);
          if (!(n >= 1 && n <= 65535)) {
            problems.add(
              [...base, 'image', 'exposedPorts', i],
              'value',
              `"${port}" is not a port: expected <1-65535>/<tcp|udp|sctp>`,
              'write it like "8080/tcp"',
            );
          }
        });
      }
    }
  }

  checkCycles(problems, targetNames, edges);
}

/** Why `text` is not a registry reference, or undefined when it parses. */
export function refProblem(text: string): string | undefined {
  try {
    parseRegistryRef(text);
    return undefined;
  } catch (err) {
    if (isAirlockError(err, 'INVALID_REFERENCE')) {
      const reason = err.details?.['reason'];
      return typeof reason === 'string' ? reason : err.message;
    }
    throw err;
  }
}

/**
 * Reports a toolchain image that is malformed, not pinned by digest (a tag
 * can move, so a build refuses it), or declared together with host tools.
 */
function checkToolchainImage(
  problems: ProblemList,
  base: readonly PathSegment[],
  toolchain: Record<string, unknown>,
): void {
  const image = toolchain.image;
  if (typeof image !== 'string' || image.trim() === '') return;
  const path = [...base, 'toolchain', 'image'];
  const ref = image.trim();
  const why = refProblem(ref);
  if (why !== undefined) {
    problems.add(
      path,
      'value',
      `toolchain image "${ref}" is not a valid image reference: ${why}`,
      'write it as <registry>/<repository>@sha256:<64 hex>, e.g. image: "registry.example.com/tools/node@sha256:<digest>"',
    );
  } else if (!/@sha256:[0-9a-f]{64}$/.test(ref)) {
    problems.add(
      path,
      'value',
      `toolchain image "${ref}" is not pinned by digest; a tag can move, so a build refuses it`,
      `run \`airlock pin\` to rewrite it to its digest, or write it as ${ref.replace(/:[^:/]*$/, '')}@sha256:<digest>`,
    );
  }
  if (Array.isArray(toolchain.host) && toolchain.host.length > 0) {
    problems.add(
      [...base, 'toolchain', 'host'],
      'key',
      'toolchain.host and toolchain.image cannot both be set: with an image, the sandbox root is the image and host tools are not visible',
      'install the tools in the image and remove "host", or remove "image" to build with host tools',
    );
  }
}

/**
 * Reports an `image.base` that is malformed or not pinned by digest: the
 * artifact would change whenever the tag moved, so a build refuses it.
 */
function checkImageBase(
  problems: ProblemList,
  base: readonly PathSegment[],
  image: Record<string, unknown>,
): void {
  const value = image.base;
  if (typeof value !== 'string' || value.trim() === '') return;
  const path = [...base, 'image', 'base'];
  const ref = value.trim();
  const why = refProblem(ref);
  if (why !== undefined) {
    problems.add(
      path,
      'value',
      `base image "${ref}" is not a valid image reference: ${why}`,
      'write it as <registry>/<repository>@sha256:<64 hex>, e.g. base: "registry.example.com/base/node@sha256:<digest>"',
    );
  } else if (!/@sha256:[0-9a-f]{64}$/.test(ref)) {
    problems.add(
      path,
      'value',
      `base image "${ref}" is not pinned by digest; a tag can move, so the image would not be reproducible`,
      `run \`airlock pin\` to rewrite it to its digest, or write it as ${ref.replace(/:[^:/]*$/, '')}@sha256:<digest>`,
    );
  }
}

const REMOTE_EXAMPLE =
  'remote: { repository: registry.example.com/team/cache, mode: read, trust: [keys/ci.pub] }';

/** Checks `cache.remote` in either form: a repository string, or the long form mapping. */
function checkRemoteCacheValue(problems: ProblemList, remote: unknown): void {
  const at: PathSegment[] = ['cache', 'remote'];
  if (typeof remote === 'string') {
    if (remote.trim() === '')
      problems.add(at, 'value', 'cache.remote is empty', `write ${REMOTE_EXAMPLE}`);
    else checkRemoteCache(problems, remote, at);
    return;
  }
  if (!isRecord(remote)) {
    problems.add(
      at,
      'value',
      'cache.remote must be a registry repository or a mapping',
      `write ${REMOTE_EXAMPLE}`,
    );
    return;
  }
  const { repository, mode, trust, signingKey, publishLogs } = remote;
  // A misspelt "repository" is reported once, by the unknown-key check with its did-you-mean.
  const misspelt =
    repository === undefined &&
    Object.keys(remote).some((k) => didYouMean(k, ['repository']) === 'repository');
  if (typeof repository === 'string' && repository.trim() !== '') {
    checkRemoteCache(problems, repository, [...at, 'repository']);
  } else if (!misspelt) {
    problems.add(
      repository === undefined ? at : [...at, 'repository'],
      repository === undefined ? 'key' : 'value',
      repository === undefined
        ? 'cache.remote has no "repository"'
        : 'cache.remote.repository must be a registry repository string',
      'add repository: registry.example.com/team/cache',
    );
  }
  if (mode !== undefined && mode !== 'read' && mode !== 'readwrite') {
    problems.add(
      [...at, 'mode'],
      'value',
      `cache.remote.mode must be "read" or "readwrite", not ${JSON.stringify(mode)}`,
      'write mode: read (developer machines) or mode: readwrite (CI builders holding a signing key)',
    );
  }
  if (
    trust !== undefined &&
    trust !== 'any' &&
    !(Array.isArray(trust) && trust.every((t) => typeof t === 'string' && t.trim() !== ''))
  ) {
    problems.add(
      [...at, 'trust'],
      'value',
      'cache.remote.trust must be "any" or a list of public key files',
      'write trust: [keys/ci.pub] (files written by `airlock keygen` or `cosign generate-key-pair`)',
    );
  }
  if (signingKey !== undefined && (typeof signingKey !== 'string' || signingKey.trim() === '')) {
    problems.add(
      [...at, 'signingKey'],
      'value',
      'cache.remote.signingKey must be the path of a private key file',
      'write signingKey: keys/cosign.key',
    );
  }
  if (mode === 'readwrite' && signingKey === undefined) {
    problems.add(
      [...at, 'mode'],
      'value',
      'cache.remote.mode is readwrite but no signingKey is set: published entries must be signed',
      'add signingKey: <path to cosign.key> (made by `airlock keygen`), or use mode: read',
    );
  }
  if (publishLogs !== undefined && typeof publishLogs !== 'boolean') {
    problems.add(
      [...at, 'publishLogs'],
      'value',
      'cache.remote.publishLogs must be true or false',
      'write publishLogs: false',
    );
  }
}

/** Reports a `cache.remote` repository that is not a plain `registry/repository` reference. */
function checkRemoteCache(problems: ProblemList, remote: string, at: PathSegment[]): void {
  const ref = remote.trim();
  const why = refProblem(ref);
  if (why !== undefined) {
    problems.add(
      at,
      'value',
      `cache.remote "${ref}" is not a registry repository: ${why}`,
      `write it as <registry>/<repository>, e.g. ${EXAMPLES.remote ?? 'remote: registry.example.com/team/cache'}`,
    );
    return;
  }
  const parsed = parseRegistryRef(ref);
  if (parsed.tag !== undefined || parsed.digest !== undefined) {
    problems.add(
      at,
      'value',
      `cache.remote "${ref}" names a ${parsed.digest !== undefined ? 'digest' : 'tag'}; the remote cache is a whole repository (entries are tagged by action key)`,
      `write only the repository: remote: ${parsed.registry}/${parsed.repository}`,
    );
  }
}

/** Reports every dependency edge that closes a cycle, naming the whole cycle. */
function checkCycles(problems: ProblemList, names: string[], edges: Map<string, Edge[]>): void {
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (node: string): void => {
    state.set(node, 'active');
    stack.push(node);
    for (const edge of edges.get(node) ?? []) {
      const s = state.get(edge.to);
      if (s === 'active') {
        const cycle = [...stack.slice(stack.indexOf(edge.to)), edge.to];
        const text = cycle.join(' → ');
        if (reported.has(text)) continue;
        reported.add(text);
        problems.add(
          ['targets', node, 'deps', edge.index],
          'value',
          `dependency cycle: ${text}`,
          `remove the dep on "${edge.to}" from target "${node}" (or another dep in the cycle) so that targets form a tree`,
        );
      } else if (s === undefined) {
        visit(edge.to);
      }
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const name of names) if (!state.has(name)) visit(name);
}
