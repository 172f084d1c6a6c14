import { existsSync, lstatSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import type { TargetBuild } from '../builder/executor.js';
import { findOnPath } from '../builder/toolchain.js';
import type { ProjectConfig } from '../config/index.js';
import { globBase, globMatcher } from '../hash/walk.js';
import {
  RACY_MS,
  fileDigest,
  newCover,
  refuse,
  stampText,
  type StampCover,
  type StampHeader,
  type StampRecorder,
  type StampWant,
} from './build-stamp.js';

/** Where the sandbox shows the host's own files; a host tool elsewhere is hashed as a package tree: never stamped. */
const HOST_ROOTS = ['/usr/', '/bin/', '/sbin/', '/lib/', '/lib64/'];

/**
 * The bytes of the stamp of a successful build, or undefined when it cannot
 * be stamped: a host tool outside the system directories, something changed
 * while the build ran that no expected content can vouch for, a path gone.
 */
export function stampOfBuild(
  header: StampHeader,
  recorder: StampRecorder,
  project: ProjectConfig,
  builds: readonly TargetBuild[],
  store: string,
  /** The run's PATH, on which host tools are found. */
  envPath: string,
): Buffer | undefined {
  refuse('');
  const cover = coverOf(recorder, project, builds, store, envPath);
  if (cover === undefined) return undefined;
  return stampText(header, cover);
}

function coverOf(
  recorder: StampRecorder,
  project: ProjectConfig,
  builds: readonly TargetBuild[],
  store: string,
  envPath: string,
): StampCover | undefined {
  const root = project.root;
  const cover = newCover();
  /** Covers `abs`; what `want` expects replaces what was expected of it before. */
  const add = (abs: string, want?: StampWant): void => {
    if (want !== undefined) cover.paths.set(abs, want);
    else if (!cover.paths.has(abs)) cover.paths.set(abs, {});
  };
  const rootSlash = `${root}/`;
  const inRoot = (abs: string): boolean => abs === root || abs.startsWith(rootSlash);
  const ancestors = (abs: string): void => {
    for (let d = dirname(abs); inRoot(d) && !cover.paths.has(d); d = dirname(d)) {
      add(d);
      if (d === root) break;
    }
  };
  // What the walks listed and hashing read (inputs, and outputs before they were written).
  for (const dir of recorder.dirs) {
    if (!inRoot(dir)) return refuse(`${dir} is outside the project`);
    add(dir);
    ancestors(dir);
  }
  // A file hashing read keeps the lstat signature it was read under: the stamp needs no
  // lstat of its own for it (a file changed since fails the check, as one changed later
  // would). Only a file under some target's output directory may be gone by now, a stale
  // output the build removed: those are looked at again.
  const outputDirs = new Set<string>();
  for (const t of project.targets.values()) {
    for (const pattern of t.outputs) {
      const base = globBase(pattern);
      outputDirs.add(base === '' || base === '.' ? root : join(root, base));
    }
  }
  const dirUnderOutputs = new Map<string, boolean>();
  const underOutputs = (dir: string): boolean => {
    let under = dirUnderOutputs.get(dir);
    if (under === undefined) {
      under = outputDirs.has(dir) || (dir !== root && inRoot(dir) && underOutputs(dirname(dir)));
      dirUnderOutputs.set(dir, under);
    }
    return under;
  };
  // A file read then gone was a stale output the build removed; a source gone is a change.
  const isSource = globMatcher(
    builds.flatMap((b) => project.targets.get(b.target)?.sources ?? ['**']),
  );
  for (const [abs, e] of recorder.files) {
    if (!inRoot(abs)) return refuse(`${abs} is outside the project`);
    if (e.kind === 'file' && !underOutputs(dirname(abs))) {
      add(abs, { digest: e.digest, sig: e.sig });
      ancestors(abs);
      continue;
    }
    if (!lexists(abs)) {
      if (isSource(abs.slice(root.length + 1))) return refuse(`source ${abs} is gone`);
      cover.absent.add(abs);
      continue;
    }
    add(abs, wantOf(e));
    ancestors(abs);
  }
  // What the build left in the project: each output as its tree says.
  for (const b of builds) {
    for (const e of b.result.outputs.entries) {
      const abs = join(root, e.path);
      add(abs, wantOf(e));
      ancestors(abs);
    }
  }
  // Every glob's base directory down from the root; the first missing one must stay missing.
  const toolsSeen = new Set<string>();
  for (const b of builds) {
    const t = project.targets.get(b.target);
    if (!t) return refuse(`no target ${b.target}`);
    for (const pattern of [...t.sources, ...t.outputs]) {
      let dir = root;
      for (const seg of globBase(pattern)
        .split('/')
        .filter((s) => s !== '')) {
        dir = join(dir, seg);
        if (!existsSync(dir)) {
          cover.absent.add(dir);
          break;
        }
        add(dir);
      }
    }
    if (t.npm) {
      const lock = join(root, t.npm.lockfile);
      add(lock);
      const pkg = join(dirname(lock), 'package.json');
      if (existsSync(pkg)) add(pkg);
      else cover.absent.add(pkg);
    }
    if (t.files && t.files.length > 0) return refuse(`target ${t.name} has files:`);
    // Host tools: the one PATH finds, its real file, and every PATH directory searched before it.
    for (const name of t.toolchain.host) {
      if (toolsSeen.has(name)) continue; // covered for an earlier target
      toolsSeen.add(name);
      const found = findOnPath(name, envPath);
      if (found === undefined) return refuse(`host tool ${name} not found`);
      const real = realpathSync(found);
      if (!HOST_ROOTS.some((r) => real.startsWith(r)))
        return refuse(`host tool ${name} is outside the system directories`);
      for (const dir of envPath.split(delimiter)) {
        if (!dir) continue;
        if (existsSync(dir)) add(dir);
        else cover.absent.add(dir);
        if (dir === dirname(found)) break;
      }
      add(found);
      add(real);
    }
  }
  // The config, and every file beside it (package.json, airlock.lock, .npmrc…).
  add(project.file);
  add(root);
  for (const d of readdirSync(root, { withFileTypes: true })) {
    if (!d.isDirectory()) add(join(root, d.name));
  }
  if (!existsSync(join(root, 'airlock.lock'))) cover.absent.add(join(root, 'airlock.lock'));
  // The store: its metadata as the build left it, and every blob a no-op reads.
  const v1 = join(store, 'airlock', 'v1');
  for (const f of [
    join(store, 'index.json'),
    join(store, 'oci-layout'),
    join(v1, 'store.json'),
    join(v1, 'meta.sqlite'),
    join(v1, 'build.sqlite'),
  ]) {
    if (!existsSync(f)) return refuse(`${f} is missing`);
    add(f, { digest: fileDigest(f) });
  }
  for (const f of ['meta.sqlite-wal', 'build.sqlite-wal']) cover.absent.add(join(v1, f));
  const blob = (digest: string): string => join(store, 'blobs', 'sha256', digest.slice(7));
  for (const b of builds) {
    for (const d of [b.resultDigest, b.manifest.digest, b.result.outputs.layer.digest]) {
      add(blob(d), { digest: d });
    }
    try {
      const manifest = JSON.parse(readFileSync(blob(b.manifest.digest), 'utf8')) as {
        config?: { digest?: string };
      };
      const config = manifest.config?.digest;
      if (typeof config !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(config))
        return refuse('a manifest without a config digest');
      add(blob(config), { digest: config });
    } catch {
      return refuse('an unreadable manifest');
    }
  }
  // A directory changed during the build is vouched for by its listing, when every
  // entry in it is covered or older than the build.
  const t0 = recorder.t0Ms - RACY_MS;
  for (const [abs, want] of cover.paths) {
    if (want.kind !== undefined || want.sig !== undefined) continue; // a file or symlink
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return refuse(`${abs} is gone`);
    }
    if (!st.isDirectory() || (st.ctimeMs < t0 && st.mtimeMs < t0)) continue;
    const names: string[] = [];
    for (const d of readdirSync(abs, { withFileTypes: true })) {
      const child = join(abs, d.name);
      if (!cover.paths.has(child)) {
        const cst = lstatSync(child);
        if (cst.ctimeMs >= t0 || cst.mtimeMs >= t0)
          return refuse(`${child} appeared during the build`);
      }
      names.push(
        `${d.name}:${d.isDirectory() ? 'd' : d.isFile() ? 'f' : d.isSymbolicLink() ? 'l' : 'o'}`,
      );
    }
    want.listing = names.sort().join('/');
  }
  return cover;
}

/** Whether `abs` exists itself (a symlink counts, wherever it points). */
function lexists(abs: string): boolean {
  try {
    lstatSync(abs);
    return true;
  } catch {
    return false;
  }
}

/** What the stamp expects of a file or symlink whose content the build read or wrote. */
function wantOf(
  e: { kind: 'file'; digest: string } | { kind: 'symlink'; target: string },
): StampWant {
  return e.kind === 'file'
    ? { digest: e.digest, kind: 'f' }
    : { digest: `link:${e.target}`, kind: 'l' };
}
