import { posix } from 'node:path';

/*
 * What `npm ci --ignore-scripts` writes under node_modules for a package-lock
 * (v2/v3), decided without npm: where each tarball is unpacked, which
 * `.bin` links exist, the workspace links and the hidden lockfile
 * `node_modules/.package-lock.json`. Anything the plan cannot reproduce
 * exactly (bundled packages, nested shrinkwraps, packages outside the root
 * node_modules, bin name clashes, a required package for another platform…)
 * is listed in `unsupported`: the caller then lets npm itself install.
 *
 *   node_modules/a/…                   tarball of lock entry "node_modules/a", first path part stripped
 *   node_modules/a/node_modules/b/…    nested entry
 *   node_modules/.bin/x -> ../a/cli.js bins of every package directly under node_modules (and links)
 *   node_modules/ws -> ../packages/ws  workspace link (lock entry with link: true)
 *   node_modules/.package-lock.json    the lock as npm re-serializes it (hidden lockfile)
 */

/** One tarball to unpack at `path` (relative to the package-lock's directory). */
export interface NpmTreePackage {
  path: string;
  name: string;
  integrity: string;
  /** Paths inside the package that a `.bin` link will point at (npm makes them 0755). */
  binTargets: string[];
}

/** A `.bin` link: at `link`, pointing at `target`; made only when `file` exists. */
export interface NpmTreeBin {
  link: string;
  target: string;
  /** What the link resolves to, relative to the package-lock's directory (through workspace links as written). */
  file: string;
  /** The package (lock path) that declares it; for a workspace link, the link path. */
  owner: string;
}

export interface NpmTreePlan {
  packages: NpmTreePackage[];
  /** Workspace links: symlink at `path` with the relative `target`. */
  links: { path: string; target: string; realpath: string }[];
  bins: NpmTreeBin[];
  /** The bytes of node_modules/.package-lock.json. */
  hiddenLockfile: string;
  /** Lock paths left out because they are optional and for another platform. */
  skipped: string[];
}

/** The platform npm checks `os`, `cpu` and `libc` against. */
export interface NpmPlatform {
  os: string;
  cpu: string;
  /** `glibc` or `musl` on Linux; undefined elsewhere or when unknown. */
  libc?: string | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A package name in a node_modules path: `name` or `@scope/name`, no dot names, no backslash. */
function validName(s: string): boolean {
  const parts = s.split('/');
  if (parts.length > 2 || (parts.length === 2 && !parts[0]!.startsWith('@'))) return false;
  return parts.every(
    (p) => p !== '' && !p.startsWith('.') && !p.includes('\\') && p !== 'node_modules',
  );
}

/** The package name a folder gives (`node_modules/@s/x` → `@s/x`), as npm's name-from-folder. */
export function nameFromFolder(path: string): string {
  const base = posix.basename(path);
  const parent = posix.basename(posix.dirname(path));
  return parent.startsWith('@') ? `${parent}/${base}` : base;
}

/** The node_modules directory a package sits in (its scope skipped), as bin-links finds it. */
function nodeModulesOf(path: string): string {
  const parent = posix.dirname(path);
  return posix.basename(parent) === 'node_modules' ? parent : posix.dirname(parent);
}

/** A package's bins as npm-normalize-package-bin leaves them: name → path inside the package. */
export function normalizeBins(name: string, bin: unknown): Map<string, string> {
  let raw: Record<string, unknown>;
  if (typeof bin === 'string') {
    if (!name) return new Map();
    raw = { [name]: bin };
  } else if (Array.isArray(bin)) {
    raw = {};
    for (const k of bin) if (typeof k === 'string') raw[posix.basename(k)] = k;
  } else if (isRecord(bin)) raw = bin;
  else return new Map();
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(raw)) {
    const base = posix.join('/', posix.basename(key.replace(/\\|:/g, '/'))).slice(1);
    if (typeof value !== 'string' || !base) continue;
    const target = posix.join('/', value.replace(/\\/g, '/')).slice(1);
    if (!target) continue;
    out.set(base, target);
  }
  return out;
}

/** npm-install-checks' platform rule for one field: a list of allowed, `!`-negated values or "any". */
function allowed(values: unknown, actual: string | undefined): boolean {
  if (values === undefined) return true;
  const list = typeof values === 'string' ? [values] : Array.isArray(values) ? values : [];
  if (list.length === 0 || (list.length === 1 && list[0] === 'any')) return true;
  if (actual === undefined) return false;
  let match = false;
  let negated = 0;
  for (const v of list) {
    if (typeof v !== 'string') continue;
    if (v.startsWith('!')) {
      if (v.slice(1) === actual) return false;
      negated++;
    } else if (v === actual) match = true;
  }
  return match || negated === list.length;
}

/** Whether a lock entry's `os`, `cpu` and `libc` let it install on `platform`. */
export function fitsPlatform(entry: Record<string, unknown>, platform: NpmPlatform): boolean {
  if (!allowed(entry.os, platform.os) || !allowed(entry.cpu, platform.cpu)) return false;
  if (entry.libc !== undefined && platform.os === 'linux')
    return allowed(entry.libc, platform.libc);
  return true;
}

/** Keys npm's hidden lockfile takes from a package's metadata, in npm's order (shrinkwrap.js). */
const PKG_META_KEYS = [
  'version',
  'dependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'optionalDependencies',
  'bundleDependencies',
  'acceptDependencies',
  'funding',
  'engines',
  'os',
  'cpu',
  'libc',
  '_integrity',
  'license',
  '_hasShrinkwrap',
  'hasInstallScript',
  'bin',
  'deprecated',
  'workspaces',
];
const NODE_META_KEYS = ['integrity', 'inBundle', 'hasShrinkwrap', 'hasInstallScript'];
/** Every key an entry may hold for npm's serialization to give it back unchanged. */
const KNOWN_KEYS = new Set([
  ...PKG_META_KEYS,
  ...NODE_META_KEYS,
  'name',
  'devDependencies',
  'resolved',
  'link',
  'extraneous',
  'peer',
  'dev',
  'optional',
  'devOptional',
]);

/** The entry npm writes for a lock entry loaded as a virtual node (Shrinkwrap.metaFromNode). */
function metaOf(path: string, e: Record<string, unknown>): Record<string, unknown> {
  if (e.link === true) return { resolved: posix.normalize(String(e.resolved)), link: true };
  const meta: Record<string, unknown> = {};
  for (const key of PKG_META_KEYS) {
    const val = e[key];
    if (!val) continue;
    if (key === 'license' && isRecord(val) && val.type) meta.license = val.type;
    else if (typeof val !== 'object' || Object.keys(val).length > 0)
      meta[key.replace(/^_/, '')] = val;
  }
  // npm writes a name only when it differs from the folder's (an alias, a renamed workspace).
  const name = typeof e.name === 'string' ? e.name : nameFromFolder(path);
  if (name !== nameFromFolder(path)) meta.name = name;
  if (meta.bin !== undefined) {
    const bins = normalizeBins(name, meta.bin);
    if (bins.size > 0) meta.bin = Object.fromEntries(bins);
    else delete meta.bin;
  }
  const top = !path.includes('node_modules/');
  if (top && e.devDependencies !== undefined) meta.devDependencies = e.devDependencies;
  for (const key of NODE_META_KEYS) if (e[key]) meta[key] = e[key];
  if (typeof e.resolved === 'string' && e.resolved !== '') meta.resolved = e.resolved;
  if (e.extraneous) meta.extraneous = true;
  else {
    if (e.peer) meta.peer = true;
    if (e.dev) meta.dev = true;
    if (e.optional) meta.optional = true;
    if (e.devOptional && !e.dev && !e.optional) meta.devOptional = true;
  }
  return meta;
}

/** The dependency flags npm keeps per node (calc-dep-flags.js); `true` until an edge clears it. */
interface DepFlags {
  extraneous: boolean;
  dev: boolean;
  optional: boolean;
  devOptional: boolean;
  peer: boolean;
}

interface DepEdge {
  name: string;
  dev: boolean;
  optional: boolean;
  peer: boolean;
}

/** The edges out of a package as npm's Node loads them: prod, peer, optional (later types win), dev for top nodes. */
function edgesOf(e: Record<string, unknown>, top: boolean): DepEdge[] {
  const edges = new Map<string, DepEdge>();
  const add = (deps: unknown, kind: Omit<DepEdge, 'name'>): void => {
    if (isRecord(deps)) for (const name of Object.keys(deps)) edges.set(name, { name, ...kind });
  };
  add(e.dependencies, { dev: false, optional: false, peer: false });
  if (isRecord(e.peerDependencies)) {
    const meta = isRecord(e.peerDependenciesMeta) ? e.peerDependenciesMeta : {};
    for (const name of Object.keys(e.peerDependencies)) {
      const m = meta[name];
      edges.set(name, {
        name,
        dev: false,
        peer: true,
        optional: isRecord(m) && m.optional === true,
      });
    }
  }
  add(e.optionalDependencies, { dev: false, optional: true, peer: false });
  if (top) add(e.devDependencies, { dev: true, optional: false, peer: false });
  return [...edges.values()];
}

/** Where `name` resolves from the package at `from` ('' = root): the nearest node_modules/<name> up the tree. */
function resolveFrom(
  from: string,
  name: string,
  byPath: ReadonlyMap<string, unknown>,
): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (byPath.has(candidate)) return candidate;
    if (base === '') return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i >= 0 ? base.slice(0, i) : '';
  }
}

/**
 * The dev/optional/devOptional/peer/extraneous flags npm computes for every
 * lock entry from the root's and each package's dependencies (calc-dep-flags.js).
 */
export function depFlagsOf(
  packages: ReadonlyMap<string, Record<string, unknown>>,
  rootManifest: Record<string, unknown>,
): Map<string, DepFlags> {
  const flags = new Map<string, DepFlags>();
  for (const path of packages.keys())
    if (path !== '')
      flags.set(path, {
        extraneous: true,
        dev: true,
        optional: true,
        devOptional: true,
        peer: true,
      });
  const none: DepFlags = {
    extraneous: false,
    dev: false,
    optional: false,
    devOptional: false,
    peer: false,
  };
  flags.set('', none);
  const rootEdges = edgesOf(rootManifest, true);
  // The root depends on each workspace through its link.
  for (const [path, e] of packages)
    if (
      e.link === true &&
      path.startsWith('node_modules/') &&
      !path.slice(13).includes('node_modules/')
    )
      if (!rootEdges.some((x) => x.name === nameFromFolder(path)))
        rootEdges.push({ name: nameFromFolder(path), dev: false, optional: false, peer: false });
  const seen = new Set<string>();
  const queue = [''];
  for (let node = queue.pop(); node !== undefined; node = queue.pop()) {
    seen.add(node);
    const f = flags.get(node)!;
    const e = node === '' ? rootManifest : packages.get(node)!;
    if (node !== '' && e.link === true) {
      const targetPath = posix.normalize(String(e.resolved));
      const t = flags.get(targetPath);
      if (!t) continue;
      let changed = false;
      for (const k of ['dev', 'optional', 'devOptional', 'peer', 'extraneous'] as const)
        if (t[k] && !f[k]) {
          t[k] = false;
          changed = true;
        }
      if (changed || !seen.has(targetPath)) queue.push(targetPath);
      continue;
    }
    const top = node === '' || !node.includes('node_modules/');
    for (const edge of node === '' ? rootEdges : edgesOf(e, top)) {
      const toPath = resolveFrom(node, edge.name, packages);
      const to = toPath === undefined ? undefined : flags.get(toPath);
      if (!to || toPath === undefined) continue;
      let changed = false;
      if (to.extraneous && !f.extraneous && !(edge.peer && edge.optional)) {
        to.extraneous = false;
        changed = true;
      }
      if (to.dev && !f.dev && !edge.dev) {
        to.dev = false;
        changed = true;
      }
      if (to.optional && !f.optional && !edge.optional) {
        to.optional = false;
        changed = true;
      }
      if (
        to.devOptional &&
        !f.devOptional &&
        !f.dev &&
        !f.optional &&
        !edge.dev &&
        !edge.optional
      ) {
        to.devOptional = false;
        changed = true;
      }
      if (to.peer && !f.peer && !edge.peer) {
        to.peer = false;
        changed = true;
      }
      if (changed) queue.push(toPath);
    }
  }
  seen.delete('');
  for (const path of seen) {
    const f = flags.get(path)!;
    if (f.devOptional && (f.dev || f.optional)) f.devOptional = false;
  }
  flags.delete('');
  return flags;
}

/** Same values, any key order (what npm's sorted serialization cannot tell apart). */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => sameJson(v, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return a === b;
}

/** `a.localeCompare(b, 'en')` as one collator (the same ICU rule, without a lookup per call). */
const EN = new Intl.Collator('en');

const SW_KEY_ORDER = [
  'name',
  'version',
  'lockfileVersion',
  'resolved',
  'integrity',
  'requires',
  'packages',
  'dependencies',
];

/**
 * JSON as npm's json-stringify-nice writes it: in every object, plain values
 * before objects, the preferred keys first in their order, then the rest by
 * `localeCompare(…, 'en')` (npm's own rule, kept for byte equality).
 */
export function stringifyNice(value: unknown, indent: string | number): string {
  const pref = SW_KEY_ORDER;
  const isObj = (v: unknown): boolean => isRecord(v);
  const order = (ak: string, bk: string): number => {
    const ai = pref.indexOf(ak);
    const bi = pref.indexOf(bk);
    if (ai >= 0 && bi < 0) return -1;
    if (bi >= 0 && ai < 0) return 1;
    if (ai >= 0 && bi >= 0) return ai - bi;
    return EN.compare(ak, bk);
  };
  const text = JSON.stringify(
    value,
    (_key, val: unknown) => {
      if (!isRecord(val)) return val;
      const sorted = Object.entries(val).sort(([ak, av], [bk, bv]) =>
        isObj(av) === isObj(bv) ? order(ak, bk) : isObj(av) ? 1 : -1,
      );
      return Object.fromEntries(sorted);
    },
    indent,
  );
  return indent ? `${text}\n` : text;
}

/** npm's reading of a JSON file's layout: its newline and indent (json-parse-even-better-errors). */
export function jsonFormat(text: string): { newline: string; indent: string } {
  const t = text.replace(/^\uFEFF/, '');
  const m = /^(?:\{\}|\[\])((?:\r?\n)+)?$/.exec(t) ??
    /^\s*[{[]((?:\r?\n)+)([\s\t]*)/.exec(t) ?? [null, '', ''];
  return { newline: m[1] ?? '\n', indent: m[2] ?? '  ' };
}

/**
 * Plans the node_modules tree `npm ci --ignore-scripts` gives for a
 * package-lock (its text and the root package.json's), or lists why it
 * cannot be reproduced without npm.
 */
export function planNpmTree(
  lockText: string,
  packageJsonText: string,
  platform: NpmPlatform,
  /** The registry npm is configured with, when not the default. */
  registry?: string,
): { plan: NpmTreePlan; unsupported: [] } | { plan?: undefined; unsupported: string[] } {
  const unsupported: string[] = [];
  const lock = JSON.parse(lockText.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  const raw = isRecord(lock.packages) ? lock.packages : {};
  const entries = Object.entries(raw).filter((x): x is [string, Record<string, unknown>] =>
    isRecord(x[1]),
  );
  if (lock.lockfileVersion !== 2 && lock.lockfileVersion !== 3)
    unsupported.push(`lockfileVersion ${String(lock.lockfileVersion)}`);
  const byPath = new Map(entries);
  const manifest = JSON.parse(packageJsonText.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  // Flags as npm computes them; a lock that says otherwise was not written by npm from this package.json.
  const flags = depFlagsOf(byPath, isRecord(manifest) ? manifest : {});
  for (const [path, f] of flags) {
    const e = byPath.get(path)!;
    if (f.extraneous) {
      unsupported.push(`${path} is not needed by any package (npm would prune it)`);
      continue;
    }
    const want = { dev: f.dev, optional: f.optional, devOptional: f.devOptional, peer: f.peer };
    const got = {
      dev: e.dev === true,
      optional: e.optional === true,
      devOptional: e.devOptional === true,
      peer: e.peer === true,
    };
    if (e.link !== true && !sameJson(want, got))
      unsupported.push(
        `${path} has flags ${JSON.stringify(got)}, npm computes ${JSON.stringify(want)}`,
      );
  }
  // Entries npm itself would serialize differently: its hidden lockfile would then not be ours.
  for (const [path, e] of entries) {
    const odd = Object.keys(e).filter((k) => !KNOWN_KEYS.has(k));
    if (odd.length > 0)
      unsupported.push(`${path || '(root)'} has keys npm drops: ${odd.join(', ')}`);
    const asNpm = e.bin === undefined ? e : { ...e, bin: metaOf(path, e).bin };
    if (path !== '' && !sameJson(metaOf(path, e), asNpm))
      unsupported.push(`${path} is not written the way npm writes lock entries`);
  }
  const links: NpmTreePlan['links'] = [];
  const linkPaths = new Set<string>();
  const packages: NpmTreePackage[] = [];
  const skipped: string[] = [];
  const skippedUnder = (path: string): boolean =>
    skipped.some((s) => path.startsWith(`${s}/node_modules/`));
  for (const [path, e] of entries) {
    if (path === '') continue;
    if (e.inBundle || e.hasShrinkwrap || e.extraneous) {
      unsupported.push(
        `${path} is ${e.inBundle ? 'bundled' : e.hasShrinkwrap ? 'shrinkwrapped' : 'extraneous'}`,
      );
      continue;
    }
    const inNodeModules = path.startsWith('node_modules/');
    if (e.link === true) {
      const target = typeof e.resolved === 'string' ? posix.normalize(e.resolved) : '';
      if (
        !inNodeModules ||
        target === '' ||
        target.startsWith('/') ||
        target.split('/').includes('..') ||
        !byPath.has(target)
      ) {
        unsupported.push(`${path} links to ${String(e.resolved)}`);
        continue;
      }
      links.push({ path, target: posix.relative(posix.dirname(path), target), realpath: target });
      linkPaths.add(path);
      continue;
    }
    if (!path.includes('node_modules/')) continue; // a workspace folder: sources, not installed
    const valid =
      inNodeModules && path.slice('node_modules/'.length).split('/node_modules/').every(validName);
    if (!valid) {
      unsupported.push(`${path} is not installed under the root node_modules`);
      continue;
    }
    if (!fitsPlatform(e, platform)) {
      if (e.optional === true) skipped.push(path);
      else unsupported.push(`${path} is for another platform and not optional`);
      continue;
    }
    if (skippedUnder(path)) continue;
    if (typeof e.integrity !== 'string' || typeof e.resolved !== 'string') {
      unsupported.push(`${path} has no resolved tarball`);
      continue;
    }
    if (
      registry !== undefined &&
      !e.resolved.startsWith(registry.endsWith('/') ? registry : `${registry}/`)
    )
      unsupported.push(`${path} is resolved outside the configured registry ${registry}`);
    const name = typeof e.name === 'string' ? e.name : nameFromFolder(path);
    packages.push({
      path,
      name,
      integrity: e.integrity,
      binTargets: [...new Set(normalizeBins(name, e.bin).values())],
    });
  }
  for (const p of packages)
    for (const l of linkPaths)
      if (p.path.startsWith(`${l}/`)) unsupported.push(`${p.path} is inside the link ${l}`);
  if (skipped.length > 0)
    unsupported.push(
      `optional packages for another platform (${skipped.join(', ')}): npm keeps them in its hidden lockfile`,
    );

  // Bins: every installed package's, then the workspace links' (npm links deps before links).
  const bins: NpmTreeBin[] = [];
  const seen = new Map<string, string>();
  const addBins = (path: string, name: string, bin: unknown): void => {
    for (const [key, target] of normalizeBins(name, bin)) {
      const link = `${nodeModulesOf(path)}/.bin/${key}`;
      const file = `${path}/${target}`;
      const other = seen.get(link);
      if (other !== undefined && other !== path) {
        unsupported.push(`${other} and ${path} both install the bin ${link}`);
        continue;
      }
      seen.set(link, path);
      bins.push({ link, target: posix.relative(posix.dirname(link), file), file, owner: path });
    }
  };
  for (const p of packages) addBins(p.path, p.name, byPath.get(p.path)?.bin);
  for (const l of links) {
    const target = byPath.get(l.realpath)!;
    addBins(
      l.path,
      typeof target.name === 'string' ? target.name : nameFromFolder(l.realpath),
      target.bin,
    );
  }
  if (packages.length === 0 && links.length === 0) unsupported.push('nothing to install');
  if (unsupported.length > 0) return { unsupported };

  // The hidden lockfile: the lock's top keys, version 3, every entry but the root as npm writes it.
  const hidden: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(lock))
    if (k !== 'packages' && k !== 'dependencies') hidden[k] = v;
  hidden.lockfileVersion = 3;
  hidden.packages = Object.fromEntries(
    entries.filter(([p]) => p !== '').map(([p, e]) => [p, metaOf(p, e)]),
  );
  const lockFormat = jsonFormat(lockText);
  const pkgIndent = jsonFormat(packageJsonText).indent;
  const indent = pkgIndent !== '' ? pkgIndent : lockFormat.indent || 2;
  const hiddenLockfile = stringifyNice(hidden, indent).replace(/\n/g, lockFormat.newline || '\n');
  return { plan: { packages, links, bins, hiddenLockfile, skipped }, unsupported: [] };
}
