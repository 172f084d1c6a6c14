import { createHash } from 'node:crypto';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type BigIntStats,
  type Dirent,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FsHint, HintDirent, HintEntry } from '../hash/hint.js';
import type { BuildEventTarget } from './audit-build.js';

/*
 * The build stamp: what decided a successful build, so that the next
 * `airlock build` with the same arguments and environment can tell, from a
 * few thousand lstat calls and one file read, that it would be a no-op.
 * This file loads node built-ins only: the fast path reads it before the
 * CLI, the config or any schema is loaded.
 *
 * Format v1, one file per (arguments, working directory, environment):
 *
 *   <store>/airlock/v1/stamps/3f9c…(32 hex).stamp
 *     line 1   JSON header (StampHeader): format, key, t0Ns, commit, what the no-op prints and records
 *     then     one entry a line: <kind>\t<sig>\t<expect>\t<absolute path>
 *
 *   kind   f file, l symlink, d directory, a absent (lstat must fail with ENOENT)
 *   sig    "size:mtime_ns:ctime_ns:ino:dev:mode" of lstat, "-" for `a`
 *   expect for an entry whose ctime is within RACY_NS of t0Ns or later (it may
 *          change again without changing its sig, git's "racily clean"):
 *          f "sha256:<hex>" the build read or wrote (the writer does not read
 *          it again: every check does, until it has settled), l its link
 *          target, d its sorted "<name>:<kind>" listing joined by "/"; "-" otherwise
 *   A file hashing read is stamped with the sig it was read under.
 *
 * Any mismatch, a missing stamp or an unreadable one means: build normally.
 */

export const STAMP_FORMAT = 'airlock.build-stamp/v1';

/** Changes within this long before the build began are re-checked by content (as the stat cache's rule). */
export const RACY_NS = 100_000_000n;

/**
 * One target's `build` audit event as a no-op records it, less what is read when
 * it is recorded: the build's own type (a type-only import: the fast path loads
 * no audit code to check a stamp).
 */
export type StampedTarget = BuildEventTarget;

export interface StampHeader {
  format: typeof STAMP_FORMAT;
  key: string;
  /** Wall time when the stamped build began, ns. */
  t0Ns: string;
  /** The git commit the build recorded (HEAD), or null outside a work tree. */
  commit: string | null;
  project: string;
  root: string;
  /** stdout of the no-op, exactly. */
  stdout: string;
  /** The run's `--json` and colour flags (stderr is rendered as the CLI does). */
  render: { json: boolean; color: boolean };
  /** Targets in the order a no-op reports them queued, then cached. */
  queued: string[];
  finished: string[];
  /** The audit side: one build event per target, in `finished` order. */
  audit: {
    targets: StampedTarget[];
    schedule: { checkpointEntries: number; checkpointIntervalMs: number; signingKey?: string };
  };
}

/** Variables a shell changes between runs that no build reads (the daemon leaves them out too). */
const VOLATILE_ENV = new Set(['PWD', 'OLDPWD', '_', 'SHLVL']);

/**
 * The stamp's key: this Airlock, the arguments, working directory, umask and
 * the whole environment but for VOLATILE_ENV.
 */
export function stampKey(
  argv: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const h = createHash('sha256');
  const umask = process.umask(0o022);
  process.umask(umask);
  h.update(JSON.stringify([STAMP_FORMAT, selfIdentity(), argv.slice(2), cwd, umask]));
  for (const k of Object.keys(env).sort()) {
    if (env[k] !== undefined && !VOLATILE_ENV.has(k)) h.update(`\0${k}=${env[k]}`);
  }
  // The builder resolves host tools through this process's PATH.
  h.update(`\0\0${process.env.PATH ?? ''}`);
  return h.digest('hex').slice(0, 32);
}

let self: string | undefined;

/** The identity of the compiled files that decide a build (a rebuilt Airlock never trusts an old stamp). */
function selfIdentity(): string {
  if (self !== undefined) return self;
  const here = fileURLToPath(import.meta.url);
  const root = dirname(dirname(here));
  const ext = here.slice(here.lastIndexOf('.'));
  const parts: string[] = [];
  for (const f of ['pipeline/build-stamp', 'pipeline/build', 'builder/executor', 'cli/main']) {
    try {
      const st = statSync(join(root, `${f}${ext}`), { bigint: true });
      parts.push(`${f}:${st.size}:${st.mtimeNs}:${st.ino}`);
    } catch {
      parts.push(`${f}:-`);
    }
  }
  self = parts.join('\0');
  return self;
}

/** Where the stamp of `key` lives in a store. */
export function stampPath(store: string, key: string): string {
  return join(store, 'airlock', 'v1', 'stamps', `${key}.stamp`);
}

/** Wall time in nanoseconds (compared with file ctimes for the racy rule only). */
export function wallNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

const sigOf = (st: BigIntStats): string =>
  `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${st.dev}:${st.mode}`;

const kindOf = (st: BigIntStats): 'f' | 'l' | 'd' | undefined =>
  st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : undefined;

/** A directory's listing as the stamp compares it. */
function listingOf(abs: string): string {
  const kind = (d: Dirent): string =>
    d.isDirectory() ? 'd' : d.isFile() ? 'f' : d.isSymbolicLink() ? 'l' : 'o';
  return readdirSync(abs, { withFileTypes: true })
    .map((d) => `${d.name}:${kind(d)}`)
    .sort()
    .join('/');
}

let readBuffer: Buffer | undefined;

/** The sha256 of a file's bytes, "sha256:<hex>". */
export function fileDigest(abs: string): string {
  const fd = openSync(abs, 'r');
  try {
    const h = createHash('sha256');
    const buf = (readBuffer ??= Buffer.allocUnsafe(1 << 16));
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    return `sha256:${h.digest('hex')}`;
  } finally {
    closeSync(fd);
  }
}

/**
 * An FsHint that records what the build listed and hashed: the directories
 * and files the stamp must cover. Alone it knows nothing (the build reads
 * every directory and file as without one); around the build daemon's hint
 * it answers what that hint knows, and records those answers as read too.
 */
export class StampRecorder implements FsHint {
  readonly dirs = new Set<string>();
  readonly files = new Map<string, HintEntry>();
  /** Wall time when the build began: anything changed after it is racy. */
  readonly t0Ns = wallNs();

  constructor(private readonly inner?: FsHint) {}

  listing(absDir: string): readonly HintDirent[] | undefined {
    const known = this.inner?.listing(absDir);
    if (known !== undefined) this.dirs.add(absDir);
    return known;
  }
  rememberListing(absDir: string, entries: readonly HintDirent[]): void {
    this.dirs.add(absDir);
    this.inner?.rememberListing(absDir, entries);
  }
  entry(abs: string): HintEntry | undefined {
    const known = this.inner?.entry(abs);
    if (known !== undefined) this.files.set(abs, known);
    return known;
  }
  rememberEntry(abs: string, entry: HintEntry): void {
    this.files.set(abs, entry);
    this.inner?.rememberEntry(abs, entry);
  }
}

/** What the stamp expects of one path. */
export interface StampWant {
  /** A file's "sha256:<hex>", a symlink's "link:<target>". */
  digest?: string;
  /** A directory's listing (see listingOf), when it changed during the build. */
  listing?: string;
  /** What the path is, when known without an lstat (a file or symlink the build read or wrote). */
  kind?: 'f' | 'l';
  /**
   * A file's lstat signature when hashing read `digest` from it: the stamp's
   * entry as it is, no lstat again (a file changed since fails the check).
   */
  sig?: string;
}

/** What a stamp must cover, collected after the build. */
export interface StampCover {
  /** Paths whose current state is what the build saw, with the content expected where known. */
  paths: Map<string, StampWant>;
  /** Paths that must not exist. */
  absent: Set<string>;
}

export function newCover(): StampCover {
  return { paths: new Map(), absent: new Set() };
}

/**
 * The stamp's text, or undefined when it cannot be trusted: an entry changed
 * during the build with no expected content to check it by, or a path that
 * vanished. `t0Ns` is when the build began.
 */
export function stampText(header: StampHeader, cover: StampCover): string | undefined {
  refusal = undefined;
  const t0 = BigInt(header.t0Ns);
  const racyFrom = (t0 - RACY_NS).toString();
  const lines: string[] = [JSON.stringify(header)];
  // The default sort: UTF-16 code-unit order, as `<` compares, without a call per comparison.
  for (const abs of [...cover.paths.keys()].sort()) {
    const want = cover.paths.get(abs)!;
    if (want.sig !== undefined) {
      // A file as hashing saw it: racy by that lstat's times, then vouched for by the digest read.
      if (want.digest === undefined) return refuse(`${abs}: no digest`);
      const [, mtime = '', ctime = ''] = want.sig.split(':', 3);
      const racy = notBefore(ctime, racyFrom) || notBefore(mtime, racyFrom);
      if (abs.includes('\n')) return refuse(`${abs}: a newline in a path`);
      lines.push(`f\t${want.sig}\t${racy ? want.digest : '-'}\t${abs}`);
      continue;
    }
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch {
      if (cover.absent.has(abs)) continue;
      return refuse(`${abs} is gone`);
    }
    const kind = kindOf(st);
    if (kind === undefined) return refuse(`${abs} is not a file, symlink or directory`);
    let expect = '-';
    if (st.ctimeNs >= t0 - RACY_NS || st.mtimeNs >= t0 - RACY_NS) {
      // Changed while (or just before) the build ran: its content decides, now and at every check.
      if (kind === 'f') {
        // Not read here: every check reads it until it has settled, and a file whose
        // bytes are not `digest` fails that check (the build rebuilds, as it must).
        if (want.digest === undefined) return refuse(`${abs} changed during the build`);
        expect = want.digest;
      } else if (kind === 'l') {
        expect = readlinkSync(abs);
        if (want.digest !== `link:${expect}`) return refuse(`${abs} changed during the build`);
      } else {
        if (want.listing === undefined) return refuse(`${abs} changed during the build`);
        const now = listingOf(abs);
        if (now !== want.listing) return refuse(`${abs} changed during the build`);
        expect = now;
      }
    }
    if (abs.includes('\n') || expect.includes('\n')) return refuse(`${abs}: a newline in a path`);
    lines.push(`${kind}\t${sigOf(st)}\t${expect}\t${abs}`);
  }
  for (const abs of [...cover.absent].sort()) {
    if (cover.paths.has(abs)) continue;
    try {
      lstatSync(abs);
      return refuse(`${abs} appeared`);
    } catch {
      if (abs.includes('\n')) return refuse(`${abs}: a newline in a path`);
      lines.push(`a\t-\t-\t${abs}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * True when decimal `ns` is at or after decimal `from` (as BigInt.toString prints them:
 * no sign, no leading zeros), without parsing either; anything else counts as after.
 */
export function notBefore(ns: string, from: string): boolean {
  if (!DIGITS.test(ns) || !DIGITS.test(from)) return true;
  return ns.length !== from.length ? ns.length > from.length : ns >= from;
}

const DIGITS = /^(0|[1-9]\d*)$/;

let refusal: string | undefined;

/** Why the last stamp was not written (for tests and debugging), undefined when it was. */
export function stampRefusal(): string | undefined {
  return refusal;
}

/** Notes why a stamp is not written; returns undefined for the caller to return. */
export function refuse(why: string): undefined {
  refusal = why;
  return undefined;
}

/** Writes a stamp atomically (temp file, rename). */
export function writeStamp(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes a stamp (a build that cannot be stamped makes the old one worthless). */
export function dropStamp(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // none
  }
}

/**
 * The stamp at `path` if it exists, is of this format and key, and every
 * entry still matches; undefined otherwise (the caller builds normally).
 */
export function checkStamp(
  path: string,
  key: string,
  /**
   * Given the stamp's text, which of its paths need no check (the build
   * daemon's watcher saw nothing change since it checked this very text in
   * full), or false when the stamp is not to be used at all (the watcher saw
   * the project change since this text last matched: the caller builds).
   */
  trusted?: (text: string) => ((abs: string) => boolean) | false | undefined,
): { header: StampHeader; refreshed?: string; text: string; full: boolean } | undefined {
  // Entries vouched for by content that are older than this by RACY_NS need no content check again.
  const settled = wallNs() - RACY_NS;
  const lines: string[] = [];
  let changed = false;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const nl = text.indexOf('\n');
  if (nl < 0) return undefined;
  let header: StampHeader;
  try {
    header = JSON.parse(text.slice(0, nl)) as StampHeader;
  } catch {
    return undefined;
  }
  if (header.format !== STAMP_FORMAT || header.key !== key) return refuse('another key');
  const skip = trusted?.(text);
  if (skip === false) return refuse('the project changed since the stamp last matched');
  lines.push(text.slice(0, nl));
  let pos = nl + 1;
  while (pos < text.length) {
    const end = text.indexOf('\n', pos);
    if (end < 0) return undefined;
    const line = text.slice(pos, end);
    pos = end + 1;
    const t1 = line.indexOf('\t');
    const t2 = line.indexOf('\t', t1 + 1);
    const t3 = line.indexOf('\t', t2 + 1);
    if (t1 < 0 || t2 < 0 || t3 < 0) return undefined;
    const kind = line.slice(0, t1);
    const abs = line.slice(t3 + 1);
    if (skip?.(abs) === true) {
      lines.push(line);
      continue;
    }
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch {
      if (kind === 'a') {
        lines.push(line);
        continue;
      }
      return refuse(`${abs} is gone`);
    }
    if (kind === 'a' || kindOf(st) !== kind || sigOf(st) !== line.slice(t1 + 1, t2))
      return refuse(`${abs} changed`);
    const expect = line.slice(t2 + 1, t3);
    if (expect === '-') {
      lines.push(line);
      continue;
    }
    try {
      const now =
        kind === 'f' ? fileDigest(abs) : kind === 'l' ? readlinkSync(abs) : listingOf(abs);
      if (now !== expect) return refuse(`${abs} changed (content)`);
    } catch {
      return refuse(`${abs} is unreadable`);
    }
    // Unchanged since long enough before this check began: its stat alone vouches for it now.
    if (st.ctimeNs < settled && st.mtimeNs < settled) {
      lines.push(`${line.slice(0, t2)}\t-\t${abs}`);
      changed = true;
    } else lines.push(line);
  }
  const full = skip === undefined;
  return changed
    ? { header, refreshed: `${lines.join('\n')}\n`, text, full }
    : { header, text, full };
}
