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
  type Dirent,
  type Stats,
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
 * Format v2, one file per (arguments, working directory, environment):
 *
 *   <store>/airlock/v1/stamps/3f9c…(32 hex).stamp
 *     line 1   JSON header (StampHeader): format, key, t0Ms, entries (n), commit,
 *              what the no-op prints and records
 *     then     n lines, one entry each: <kind>\t<expect>\t<absolute path>
 *     then     n × 6 float64 (little-endian), entry i's lstat: size, mtimeMs,
 *              ctimeMs, ino, dev, mode (zeros for `a`): compared as numbers,
 *              with nothing to parse or format
 *
 *   kind   f file, l symlink, d directory, a absent (lstat must fail)
 *   expect for an entry whose ctime or mtime is within RACY_MS of t0Ms or later
 *          (it may change again without changing its stat, git's "racily clean"):
 *          f "sha256:<hex>" the build read or wrote (the writer does not read
 *          it again: every check does, until it has settled), l its link
 *          target, d its sorted "<name>:<kind>" listing joined by "/"; "-" otherwise
 *   A file hashing read is stamped with the lstat it was read under (its
 *   nanosecond signature turned into the numbers node's lstat gives).
 *
 * Why times in milliseconds as doubles (node's number stats, about 0.24 µs
 * apart at today's dates) are as safe as nanoseconds here: an entry is
 * trusted by its stat only when its ctime is more than RACY_MS older than
 * when the build began (or than a check that verified its content). Any
 * later change of the inode (write, truncate, chmod, chown, `touch -r` or
 * any utimes, link, unlink or rename of it) sets its ctime to the kernel's
 * current time, which is after the stamp was written, so at least RACY_MS
 * (100 ms, 400 000 times the resolution) after the recorded ctime: the
 * numbers differ. No user can set a ctime (utimes sets atime and mtime
 * only); a path given another inode also changes its directory's mtime and
 * ctime, which the stamp covers too. Setting the system clock back defeats
 * this rule as much as it does with nanoseconds.
 *
 * Any mismatch, a missing stamp or an unreadable one means: build normally.
 */

export const STAMP_FORMAT = 'airlock.build-stamp/v2';

/** Changes within this long before the build began are re-checked by content (as the stat cache's rule). */
export const RACY_MS = 100;

/** Bytes per entry in the stamp's binary tail: six float64s. */
const SIG_BYTES = 6 * 8;

/**
 * One target's `build` audit event as a no-op records it, less what is read when
 * it is recorded: the build's own type (a type-only import: the fast path loads
 * no audit code to check a stamp).
 */
export type StampedTarget = BuildEventTarget;

export interface StampHeader {
  format: typeof STAMP_FORMAT;
  key: string;
  /** Wall time when the stamped build began, ms. */
  t0Ms: number;
  /** How many entries follow (set when the stamp is written). */
  entries?: number;
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

/** Writes the six numbers of an lstat the stamp compares into `out` at byte `at`. */
function putSig(st: SigNumbers, out: Buffer, at: number): void {
  out.writeDoubleLE(st.size, at);
  out.writeDoubleLE(st.mtimeMs, at + 8);
  out.writeDoubleLE(st.ctimeMs, at + 16);
  out.writeDoubleLE(st.ino, at + 24);
  out.writeDoubleLE(st.dev, at + 32);
  out.writeDoubleLE(st.mode, at + 40);
}

/** The stamp's numbers as float64s of this machine's byte order (one copy, aligned). */
function sigNumbers(tail: Buffer): Float64Array {
  const numbers = new Float64Array(tail.length / 8);
  const bytes = Buffer.from(numbers.buffer);
  tail.copy(bytes);
  if (!LITTLE_ENDIAN) bytes.swap64();
  return numbers;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** True when `st` has the six numbers recorded for entry `i`. */
function sameSig(st: Stats, sig: Float64Array, i: number): boolean {
  const at = i * 6;
  return (
    st.ctimeMs === sig[at + 2] &&
    st.mtimeMs === sig[at + 1] &&
    st.size === sig[at] &&
    st.ino === sig[at + 3] &&
    st.dev === sig[at + 4] &&
    st.mode === sig[at + 5]
  );
}

const kindOf = (st: Stats): 'f' | 'l' | 'd' | undefined =>
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
  /** Wall time when the build began (ms): anything changed after it is racy. */
  readonly t0Ms = Date.now();

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
 * The stamp's bytes, or undefined when it cannot be trusted: an entry changed
 * during the build with no expected content to check it by, or a path that
 * vanished. `header.t0Ms` is when the build began.
 */
export function stampText(header: StampHeader, cover: StampCover): Buffer | undefined {
  refusal = undefined;
  const racy = header.t0Ms - RACY_MS;
  const lines: string[] = [];
  const sigs: SigNumbers[] = [];
  // The default sort: UTF-16 code-unit order, as `<` compares, without a call per comparison.
  for (const abs of [...cover.paths.keys()].sort()) {
    const want = cover.paths.get(abs)!;
    const seen = want.sig === undefined ? undefined : numbersOfSig(want.sig);
    if (seen !== undefined) {
      // A file as hashing saw it: racy by that lstat's times, then vouched for by the digest read.
      if (want.digest === undefined) return refuse(`${abs}: no digest`);
      if (abs.includes('\n')) return refuse(`${abs}: a newline in a path`);
      const racyEntry = seen.ctimeMs >= racy || seen.mtimeMs >= racy;
      lines.push(`f\t${racyEntry ? want.digest : '-'}\t${abs}`);
      sigs.push(seen);
      continue;
    }
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch {
      if (cover.absent.has(abs)) continue;
      return refuse(`${abs} is gone`);
    }
    const kind = kindOf(st);
    if (kind === undefined) return refuse(`${abs} is not a file, symlink or directory`);
    let expect = '-';
    if (st.ctimeMs >= racy || st.mtimeMs >= racy) {
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
    lines.push(`${kind}\t${expect}\t${abs}`);
    sigs.push(st);
  }
  for (const abs of [...cover.absent].sort()) {
    if (cover.paths.has(abs)) continue;
    try {
      lstatSync(abs);
      return refuse(`${abs} appeared`);
    } catch {
      if (abs.includes('\n')) return refuse(`${abs}: a newline in a path`);
      lines.push(`a\t-\t${abs}`);
    }
  }
  // Absent entries (after the others) keep zeros.
  const tail = Buffer.alloc(lines.length * SIG_BYTES);
  sigs.forEach((st, i) => putSig(st, tail, i * SIG_BYTES));
  return stampBytes({ ...header, entries: lines.length }, lines, tail);
}

/** A stamp file's bytes: the header line, the entry lines, their numbers. */
function stampBytes(header: StampHeader, lines: readonly string[], tail: Buffer): Buffer {
  const text = Buffer.from(`${JSON.stringify(header)}\n${lines.map((l) => `${l}\n`).join('')}`);
  return Buffer.concat([text, tail]);
}

/** The six numbers of an lstat the stamp compares, as node's number stats give them. */
export interface SigNumbers {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  mode: number;
}

/**
 * The numbers node's `lstat` (number stats) gives for the file whose bigint
 * lstat had signature `sig` ("size:mtimeNs:ctimeNs:ino:dev:mode", see
 * hash/stat-cache's fileSig), or undefined for anything else (the writer then
 * takes an lstat of its own). Times as node makes them from a timespec:
 * seconds × 1000 + nanoseconds / 1e6, in doubles, so the check compares equal
 * numbers for an unchanged file.
 */
export function numbersOfSig(sig: string): SigNumbers | undefined {
  const f = sig.split(':');
  if (f.length !== 6 || !f.every((x) => DIGITS.test(x))) return undefined;
  const ms = (ns: bigint): number =>
    Number(ns / 1_000_000_000n) * 1000 + Number(ns % 1_000_000_000n) / 1_000_000;
  return {
    size: Number(f[0]),
    mtimeMs: ms(BigInt(f[1]!)),
    ctimeMs: ms(BigInt(f[2]!)),
    ino: Number(BigInt(f[3]!)),
    dev: Number(BigInt(f[4]!)),
    mode: Number(f[5]),
  };
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

/** Writes a stamp (or the note of why none was written) atomically (temp file, rename). */
export function writeStamp(path: string, text: string | Buffer): void {
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

/** A stamp file split into its parts; undefined when it is not a whole stamp of this format. */
function parseStamp(
  bytes: Buffer,
): { header: StampHeader; text: string; lines: number; tail: number } | undefined {
  const nl = bytes.indexOf(10);
  if (nl < 0) return undefined;
  let header: StampHeader;
  try {
    header = JSON.parse(bytes.toString('utf8', 0, nl)) as StampHeader;
  } catch {
    return undefined;
  }
  if (header.format !== STAMP_FORMAT) return undefined;
  const n = header.entries;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return undefined;
  const tail = bytes.length - n * SIG_BYTES;
  if (tail <= nl || bytes[tail - 1] !== 10) return undefined;
  return { header, text: bytes.toString('utf8', nl + 1, tail), lines: n, tail };
}

/** The entries of the stamp at `path` (kind, expect, path), for tests and debugging. */
export function readStampEntries(path: string): { kind: string; expect: string; path: string }[] {
  const parsed = parseStamp(readFileSync(path));
  if (!parsed) throw new Error(`${path} is not a build stamp of ${STAMP_FORMAT}`);
  return parsed.text
    .split('\n')
    .slice(0, -1)
    .map((l) => {
      const [kind, expect, ...rest] = l.split('\t');
      return { kind: kind!, expect: expect!, path: rest.join('\t') };
    });
}

/**
 * The stamp at `path` if it exists, is of this format and key, and every
 * entry still matches; undefined otherwise (the caller builds normally).
 * `onHeader` is called once the header is read and before any entry is
 * checked (the fast path starts `git status` then, to run beside the check).
 */
export function checkStamp(
  path: string,
  key: string,
  onHeader?: (header: StampHeader) => void,
  /**
   * Given the stamp's identity (its whole file as latin1 text), which of its
   * paths need no check (the build daemon's watcher saw nothing change since
   * it checked this very stamp in full), or false when the stamp is not to be
   * used at all (the watcher saw the project change since it last matched:
   * the caller builds).
   */
  trusted?: (text: string) => ((abs: string) => boolean) | false | undefined,
):
  | {
      header: StampHeader;
      refreshed?: Buffer;
      /** The stamp's identity as read (its file as latin1; `refreshed` has its own). */
      readonly text: string;
      full: boolean;
    }
  | undefined {
  // Entries vouched for by content that are older than this need no content check again.
  const settled = Date.now() - RACY_MS;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return refuse('no stamp');
  }
  const parsed = parseStamp(bytes);
  if (!parsed) return refuse('not a stamp of this format');
  const { header, text, tail } = parsed;
  if (header.key !== key) return refuse('another key');
  const skip = trusted?.(bytes.toString('latin1'));
  if (skip === false) return refuse('the project changed since the stamp last matched');
  onHeader?.(header);
  const sig = sigNumbers(bytes.subarray(tail));
  // Lines rewritten as checked by stat alone (entry index → new line), when any.
  let rewritten: Map<number, string> | undefined;
  let pos = 0;
  for (let i = 0; i < parsed.lines; i++) {
    const end = text.indexOf('\n', pos);
    const t1 = text.indexOf('\t', pos);
    const t2 = t1 < 0 ? -1 : text.indexOf('\t', t1 + 1);
    if (end < 0 || t1 < 0 || t2 < 0 || t2 > end) return refuse('a malformed stamp');
    const kind = text.slice(pos, t1);
    const abs = text.slice(t2 + 1, end);
    pos = end + 1;
    if (skip?.(abs) === true) continue;
    let st: Stats | undefined;
    try {
      st = lstatSync(abs, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (st === undefined) {
      if (kind === 'a') continue;
      return refuse(`${abs} is gone`);
    }
    // The same mode is the same file type: the kind the stamp recorded from it.
    if (kind === 'a' || !sameSig(st, sig, i)) return refuse(`${abs} changed`);
    if (t2 === t1 + 2 && text.charCodeAt(t1 + 1) === 45 /* "-" */) continue;
    const expect = text.slice(t1 + 1, t2);
    try {
      const now =
        kind === 'f' ? fileDigest(abs) : kind === 'l' ? readlinkSync(abs) : listingOf(abs);
      if (now !== expect) return refuse(`${abs} changed (content)`);
    } catch {
      return refuse(`${abs} is unreadable`);
    }
    // Unchanged since long enough before this check began: its stat alone vouches for it now.
    if (st.ctimeMs < settled && st.mtimeMs < settled)
      (rewritten ??= new Map()).set(i, `${kind}\t-\t${abs}`);
  }
  if (pos !== text.length) return refuse('a malformed stamp');
  const full = skip === undefined;
  // The identity the daemon keys on, made only when asked for.
  const answer = (refreshed?: Buffer) => ({
    header,
    full,
    ...(refreshed && { refreshed }),
    get text(): string {
      return bytes.toString('latin1');
    },
  });
  if (rewritten === undefined) return answer();
  const lines = text.split('\n').slice(0, -1);
  for (const [i, line] of rewritten) lines[i] = line;
  return answer(stampBytes(header, lines, bytes.subarray(tail)));
}
