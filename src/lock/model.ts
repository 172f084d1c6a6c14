import { canonicalJson } from '../core/canonical.js';
import { compareBytes } from '../core/compare.js';
import { isDigest, type Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { LockErrorCode } from './errors.js';

/*
 * airlock.lock: every external input of a project pinned by hash, at the
 * project root. JSON, one canonical (RFC 8785) entry per line, entries sorted,
 * so a diff shows one line per changed input:
 *
 *   {
 *   "format": "airlock.lock/v1",
 *   "files": [
 *   {"executable":false,"extract":false,"name":"protoc","sha256":"sha256:…","url":"https://…"}
 *   ],
 *   "images": [
 *   {"digest":"sha256:…","ref":"registry.example.com/tools/node:20@sha256:…"}
 *   ],
 *   "npm": [
 *   {"integrity":"sha512-…","name":"left-pad","resolved":"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz","sha256":"sha256:…","version":"1.3.0"}
 *   ]
 *   }
 *
 * npm entries are unique by `integrity` (exactly as npm recorded it); `sha256`
 * is the tarball's store address, filled in by `airlock fetch`.
 */

export const LOCK_FILE = 'airlock.lock';
export const LOCK_FORMAT = 'airlock.lock/v1';

/** One npm tarball. */
export interface NpmLockEntry {
  name: string;
  version: string;
  resolved: string;
  /** The SRI string from package-lock.json, unchanged. */
  integrity: string;
  /** Store address of the tarball, once fetched. */
  sha256?: Digest;
}

/** One downloaded file declared under `files:`. */
export interface FileLockEntry {
  name: string;
  url: string;
  sha256: Digest;
  executable: boolean;
  extract: boolean;
}

/** One image reference as written in the config, with what it resolved to. */
export interface ImageLockEntry {
  ref: string;
  /** What the reference names: a manifest, or a multi-platform index. */
  digest: Digest;
  /** For an index: the platform chosen (`linux/amd64`) and its manifest digest. */
  platform?: string;
  manifest?: Digest;
}

export interface Lock {
  npm: NpmLockEntry[];
  files: FileLockEntry[];
  images: ImageLockEntry[];
}

export const emptyLock = (): Lock => ({ npm: [], files: [], images: [] });

const npmOrder = (a: NpmLockEntry, b: NpmLockEntry): number =>
  compareBytes(a.name, b.name) ||
  compareBytes(a.version, b.version) ||
  compareBytes(a.integrity, b.integrity);

/** The lock with every list sorted by its key (the canonical order). */
export function sortLock(lock: Lock): Lock {
  return {
    npm: [...lock.npm].sort(npmOrder),
    files: [...lock.files].sort((a, b) => compareBytes(a.name, b.name)),
    images: [...lock.images].sort((a, b) => compareBytes(a.ref, b.ref)),
  };
}

/** The text of airlock.lock: deterministic for a given lock. */
export function serializeLock(lock: Lock): string {
  const sorted = sortLock(lock);
  const section = (name: string, entries: readonly object[]): string =>
    entries.length === 0
      ? `"${name}": []`
      : `"${name}": [\n${entries.map((e) => canonicalJson(e)).join(',\n')}\n]`;
  return `{\n"format": ${JSON.stringify(LOCK_FORMAT)},\n${section('files', sorted.files)},\n${section('images', sorted.images)},\n${section('npm', sorted.npm)}\n}\n`;
}

const invalid = (file: string, message: string): AirlockError<LockErrorCode> =>
  new AirlockError<LockErrorCode>('LOCK_INVALID', `${file}: ${message}`, {
    hint: 'Do not edit airlock.lock by hand: restore it from version control, or run `airlock lock` to write it again.',
    details: { file },
  });

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function str(file: string, where: string, e: Record<string, unknown>, key: string): string {
  const v = e[key];
  if (typeof v !== 'string' || v === '')
    throw invalid(file, `${where}: "${key}" must be a non-empty string`);
  return v;
}

function digest(file: string, where: string, e: Record<string, unknown>, key: string): Digest {
  const v = e[key];
  if (!isDigest(v)) throw invalid(file, `${where}: "${key}" is not a sha256 digest`);
  return v;
}

function only(file: string, where: string, e: Record<string, unknown>, keys: string[]): void {
  for (const k of Object.keys(e))
    if (!keys.includes(k)) throw invalid(file, `${where}: unknown field "${k}"`);
}

/** Reads airlock.lock text; anything malformed is LOCK_INVALID naming the entry. */
export function parseLock(text: string, file = LOCK_FILE): Lock {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isRecord(raw)) throw invalid(file, 'not a JSON object');
  if (raw.format !== LOCK_FORMAT)
    throw invalid(file, `format ${JSON.stringify(raw.format)} is not ${LOCK_FORMAT}`);
  only(file, 'the top level', raw, ['format', 'npm', 'files', 'images']);
  const list = (name: string): Record<string, unknown>[] => {
    const v = raw[name] ?? [];
    if (!Array.isArray(v) || !v.every(isRecord))
      throw invalid(file, `"${name}" must be a list of objects`);
    return v;
  };
  const npm = list('npm').map((e, i): NpmLockEntry => {
    const where = `npm[${i}]`;
    only(file, where, e, ['name', 'version', 'resolved', 'integrity', 'sha256']);
    const entry: NpmLockEntry = {
      name: str(file, where, e, 'name'),
      version: str(file, where, e, 'version'),
      resolved: str(file, where, e, 'resolved'),
      integrity: str(file, where, e, 'integrity'),
    };
    if (e.sha256 !== undefined) entry.sha256 = digest(file, where, e, 'sha256');
    return entry;
  });
  const files = list('files').map((e, i): FileLockEntry => {
    const where = `files[${i}]`;
    only(file, where, e, ['name', 'url', 'sha256', 'executable', 'extract']);
    if (typeof e.executable !== 'boolean' || typeof e.extract !== 'boolean')
      throw invalid(file, `${where}: "executable" and "extract" must be booleans`);
    return {
      name: str(file, where, e, 'name'),
      url: str(file, where, e, 'url'),
      sha256: digest(file, where, e, 'sha256'),
      executable: e.executable,
      extract: e.extract,
    };
  });
  const images = list('images').map((e, i): ImageLockEntry => {
    const where = `images[${i}]`;
    only(file, where, e, ['ref', 'digest', 'platform', 'manifest']);
    const entry: ImageLockEntry = {
      ref: str(file, where, e, 'ref'),
      digest: digest(file, where, e, 'digest'),
    };
    if (e.platform !== undefined) entry.platform = str(file, where, e, 'platform');
    if (e.manifest !== undefined) entry.manifest = digest(file, where, e, 'manifest');
    return entry;
  });
  const lock = { npm, files, images };
  const seen = new Set<string>();
  for (const e of npm) {
    if (seen.has(e.integrity)) throw invalid(file, `npm: ${e.name}@${e.version} appears twice`);
    seen.add(e.integrity);
  }
  return lock;
}

/** One way the lock on disk differs from what the config and package-locks need. */
export interface LockDifference {
  kind: 'npm' | 'file' | 'image';
  /** What the entry is: `left-pad@1.3.0`, a file name, an image reference. */
  name: string;
  change: 'missing' | 'stale' | 'changed';
  old?: string;
  new?: string;
}

const npmId = (e: NpmLockEntry): string => `${e.name}@${e.version}`;

/**
 * Every difference between the recorded lock and the one wanted (from the
 * config and package-locks). A missing tarball `sha256` is not a difference:
 * `airlock fetch` fills it in.
 */
export function diffLocks(recorded: Lock, wanted: Lock): LockDifference[] {
  const out: LockDifference[] = [];
  const have = new Map(recorded.npm.map((e) => [e.integrity, e]));
  const want = new Map(wanted.npm.map((e) => [e.integrity, e]));
  const wantedNames = new Map(wanted.npm.map((e) => [`${e.name}\0${e.version}`, e]));
  for (const w of sortLock(wanted).npm) {
    const h = have.get(w.integrity);
    if (!h) {
      const prior = recorded.npm.find((e) => e.name === w.name && e.version === w.version);
      out.push(
        prior
          ? {
              kind: 'npm',
              name: npmId(w),
              change: 'changed',
              old: prior.integrity,
              new: w.integrity,
            }
          : { kind: 'npm', name: npmId(w), change: 'missing', new: w.integrity },
      );
    } else if (h.name !== w.name || h.version !== w.version || h.resolved !== w.resolved) {
      out.push({
        kind: 'npm',
        name: npmId(w),
        change: 'changed',
        old: `${npmId(h)} ${h.resolved}`,
        new: `${npmId(w)} ${w.resolved}`,
      });
    }
  }
  for (const h of sortLock(recorded).npm) {
    if (want.has(h.integrity) || wantedNames.has(`${h.name}\0${h.version}`)) continue;
    out.push({ kind: 'npm', name: npmId(h), change: 'stale', old: h.integrity });
  }
  const fileId = (f: FileLockEntry): string =>
    `${f.url} ${f.sha256}${f.executable ? ' executable' : ''}${f.extract ? ' extract' : ''}`;
  diffKeyed(out, 'file', recorded.files, wanted.files, (f) => f.name, fileId);
  const imageId = (i: ImageLockEntry): string =>
    `${i.digest}${i.manifest ? ` ${i.platform ?? ''} ${i.manifest}` : ''}`;
  diffKeyed(out, 'image', recorded.images, wanted.images, (i) => i.ref, imageId);
  return out;
}

function diffKeyed<T>(
  out: LockDifference[],
  kind: LockDifference['kind'],
  recorded: readonly T[],
  wanted: readonly T[],
  key: (e: T) => string,
  id: (e: T) => string,
): void {
  const have = new Map(recorded.map((e) => [key(e), e]));
  const want = new Map(wanted.map((e) => [key(e), e]));
  for (const [k, w] of [...want].sort((a, b) => compareBytes(a[0], b[0]))) {
    const h = have.get(k);
    if (!h) out.push({ kind, name: k, change: 'missing', new: id(w) });
    else if (id(h) !== id(w))
      out.push({ kind, name: k, change: 'changed', old: id(h), new: id(w) });
  }
  for (const [k, h] of [...have].sort((a, b) => compareBytes(a[0], b[0])))
    if (!want.has(k)) out.push({ kind, name: k, change: 'stale', old: id(h) });
}

/** One line per difference, for errors and `lock --check`. */
export function describeDifference(d: LockDifference): string {
  const what = d.kind === 'npm' ? `npm ${d.name}` : `${d.kind} ${d.name}`;
  switch (d.change) {
    case 'missing':
      return `${what}: not in airlock.lock (needs ${d.new ?? '?'})`;
    case 'stale':
      return `${what}: in airlock.lock but no longer needed (${d.old ?? '?'})`;
    case 'changed':
      return `${what}: airlock.lock records ${d.old ?? '?'}, the project needs ${d.new ?? '?'}`;
  }
}
