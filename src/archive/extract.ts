import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rm, symlink, chmod } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import {
  compareBytes,
  errnoCode,
  noEvents,
  sortTree,
  type Digest,
  type EventSink,
  type TreeEntry,
} from '../core/index.js';
import { archiveError } from './errors.js';
import { TYPE } from './tar-header.js';
import { readMembers, type TarMember } from './tar-reader.js';

export interface ExtractOptions {
  /**
   * Refuse special files (devices, fifos, unknown types) with
   * ARCHIVE_UNSUPPORTED_ENTRY (default), skip them all with a warning event,
   * or (`skip-devices`) skip device nodes and fifos with a warning and refuse
   * unknown types.
   */
  onUnsupported?: 'error' | 'skip' | 'skip-devices';
  /**
   * Absolute link targets: refused (default), or (`rebase`) read as paths
   * inside destDir, as in an image's root filesystem: a symlink to
   * `/usr/lib/x` from `etc/a` is written as `../usr/lib/x`, and a hard link to
   * `/usr/bin/x` links to the archive's `usr/bin/x`. The rebased link is then
   * checked like any other: it can never leave destDir.
   */
  absoluteLinks?: 'refuse' | 'rebase';
  /** Apply OCI whiteouts: `.wh.<name>` deletes `<name>` of lower layers, `.wh..wh..opq` empties its directory (default false: they are plain files). */
  applyWhiteouts?: boolean;
  /** Where warnings (skipped entries, stripped mode bits) go. */
  events?: EventSink;
  /**
   * Write files as exactly 0644 or 0755 and directories as 0755, whatever the
   * archive says (output trees: the tree digest records only the executable
   * bit). Default false: the archive's permission bits are kept, except that
   * setuid, setgid, sticky and group/world write are always stripped.
   */
  normalizeModes?: boolean;
  /** Limits against hostile archives; each field defaults to DEFAULT_EXTRACT_LIMITS. */
  limits?: Partial<ExtractLimits>;
  /** What the source must be: gzip, plain tar, or detected from its magic (default). */
  compression?: 'gzip' | 'tar' | 'detect';
  /** Sees every decompressed byte of the source (to compute a layer's diff_id). */
  onTarBytes?: (chunk: Uint8Array) => void;
}

/** How much an archive may unpack to; exceeding one is a named error. */
export interface ExtractLimits {
  /** Total bytes of file content written. */
  maxBytes: number;
  /** Entries (files, directories, links, whiteouts) in the archive. */
  maxEntries: number;
  /** Path components of one entry. */
  maxDepth: number;
  /** Bytes of the absolute path an entry is written to (PATH_MAX is 4096). */
  maxPathLength: number;
  /** Decompressed bytes per compressed byte of a gzip source, judged past 256 MiB. */
  maxRatio: number;
}

/** Generous for real toolchain images (tens of GiB, a million files), fatal to bombs. */
export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = {
  maxBytes: 64 * 2 ** 30,
  maxEntries: 2_000_000,
  maxDepth: 256,
  maxPathLength: 4000,
  maxRatio: 200,
};

/** Largest name of one path component on Linux file systems (NAME_MAX). */
const NAME_MAX = 255;

export interface ReadOptions {
  /** Keep the content of files of at most this many bytes (default: keep none). */
  maxContent?: number;
  /** Refuse (default) or skip special files. */
  onUnsupported?: 'error' | 'skip';
}

/** An entry of an archive read into memory, with its raw permission bits. */
export type ReadEntry = TreeEntry & { mode: number; content?: Buffer };

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Normalises a member name to a relative path ('' for the root itself): drops
 * '.' and empty segments and refuses absolute paths, '..' and NUL.
 */
function memberPath(name: string): string {
  if (name.startsWith('/') || name.includes('\0')) {
    throw archiveError(
      'ARCHIVE_UNSAFE_PATH',
      `archive entry ${JSON.stringify(name)} has an absolute path`,
      'Only extract archives whose entries are relative paths; rebuild the archive without a leading "/".',
      { path: name },
    );
  }
  const segs = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) {
    throw archiveError(
      'ARCHIVE_UNSAFE_PATH',
      `archive entry ${JSON.stringify(name)} climbs out of the destination with ".."`,
      'The archive is unsafe; do not extract it. Rebuild it without ".." in entry paths.',
      { path: name },
    );
  }
  return segs.join('/');
}

function unsafeLink(path: string, target: string, why: string): Error {
  return archiveError(
    'ARCHIVE_UNSAFE_LINK',
    `archive link ${JSON.stringify(path)} -> ${JSON.stringify(target)} ${why}`,
    'The archive is unsafe; do not extract it. Links must be relative and stay inside the archive.',
    { path, target },
  );
}

function duplicate(path: string, why = 'appears twice in the archive'): Error {
  return archiveError(
    'ARCHIVE_DUPLICATE_ENTRY',
    `archive entry ${JSON.stringify(path)} ${why}`,
    'Rebuild the archive with each path once (packTarGz never writes duplicates).',
    { path },
  );
}

/**
 * Refuses a symlink target unless it provably resolves inside the root: relative,
 * '..' only as a leading run that does not climb above the root, none after a
 * name (a name may itself be a symlink, so 'name/..' is not lexical).
 */
function checkSymlinkTarget(path: string, target: string): void {
  if (target === '' || target.includes('\0')) throw unsafeLink(path, target, 'has an empty target');
  if (target.startsWith('/')) throw unsafeLink(path, target, 'has an absolute target');
  const depth = path.split('/').length - 1;
  let ups = 0;
  let named = false;
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (named) throw unsafeLink(path, target, 'has ".." after a name (cannot be checked)');
      ups++;
      if (ups > depth) throw unsafeLink(path, target, 'points outside the destination');
    } else named = true;
  }
}

/**
 * The symlink target `target` of the entry `name` made relative when it is
 * absolute: inside a root filesystem, `/usr/lib/x` seen from `etc/a` is
 * `../usr/lib/x`, so links resolve inside the root instead of being refused.
 */
export function rebaseLinkTarget(name: string, target: string): string {
  if (!target.startsWith('/')) return target;
  const from = posix.dirname(posix.join('/', name.replace(/\/+$/, '')));
  const rel = posix.relative(from, posix.normalize(target));
  return rel === '' ? '.' : rel;
}

function dirname(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

function basename(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

type Seen =
  | { kind: 'dir'; explicit: boolean }
  | { kind: 'symlink' }
  | { kind: 'file'; digest: Digest; size: number; executable: boolean };

/** Extraction state: what this archive created and which directories are known real. */
class Extractor {
  private readonly seen = new Map<string, Seen>();
  /** Paths (relative, '' = root) verified to be real directories inside the root. */
  private readonly realDirs = new Set<string>(['']);
  readonly tree: TreeEntry[] = [];
  private readonly limits: ExtractLimits;
  private entries = 0;
  private bytes = 0;

  constructor(
    private readonly root: string,
    private readonly opts: ExtractOptions,
  ) {
    this.limits = { ...DEFAULT_EXTRACT_LIMITS, ...opts.limits };
  }

  /** Refuses an entry past the entry-count, depth or path-length limit. */
  private checkLimits(rel: string): void {
    const l = this.limits;
    if (++this.entries > l.maxEntries) {
      throw archiveError(
        'ARCHIVE_TOO_MANY_ENTRIES',
        `the archive has more than ${l.maxEntries} entries`,
        'Do not unpack it. If the archive is genuine, raise the entry limit (maxEntries / AIRLOCK_UNPACK_MAX_ENTRIES).',
        { limit: 'entries', maxEntries: l.maxEntries, path: rel },
      );
    }
    const segs = rel.split('/');
    if (segs.length > l.maxDepth) {
      throw archiveError(
        'ARCHIVE_PATH_TOO_DEEP',
        `archive entry ${JSON.stringify(rel.slice(0, 200))}… is ${segs.length} directories deep, more than ${l.maxDepth}`,
        'Do not unpack it. If the archive is genuine, raise the depth limit (maxDepth / AIRLOCK_UNPACK_MAX_DEPTH).',
        { limit: 'depth', maxDepth: l.maxDepth, depth: segs.length },
      );
    }
    const long = segs.find((seg) => Buffer.byteLength(seg) > NAME_MAX);
    const pathBytes = Buffer.byteLength(this.abs(rel));
    if (long !== undefined || pathBytes > l.maxPathLength) {
      throw archiveError(
        'ARCHIVE_PATH_TOO_LONG',
        long !== undefined
          ? `archive entry ${JSON.stringify(rel.slice(0, 200))} has a name of ${Buffer.byteLength(long)} bytes, more than ${NAME_MAX}`
          : `archive entry ${JSON.stringify(rel.slice(0, 200))}… would be written to a path of ${pathBytes} bytes, more than ${l.maxPathLength}`,
        'Do not unpack it, or unpack it into a directory with a shorter path; file systems refuse longer names.',
        { limit: 'path', maxPathLength: l.maxPathLength, pathBytes },
      );
    }
  }

  /** Counts `n` more bytes of content against the total limit. */
  private addBytes(n: number, rel: string): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxBytes) {
      throw archiveError(
        'ARCHIVE_TOO_LARGE',
        `the archive unpacks to more than ${this.limits.maxBytes} bytes (at ${JSON.stringify(rel.slice(0, 200))})`,
        'Do not unpack it. If the archive is genuine, raise the size limit (maxBytes / AIRLOCK_UNPACK_MAX_BYTES).',
        { limit: 'bytes', maxBytes: this.limits.maxBytes, path: rel },
      );
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** Removes an on-disk path (a link itself, never its target) and forgets dirs under it. */
  private async remove(rel: string): Promise<void> {
    await rm(this.abs(rel), { recursive: true, force: true });
    for (const d of this.realDirs) {
      if (d === rel || d.startsWith(`${rel}/`)) this.realDirs.delete(d);
    }
  }

  /**
   * Makes every ancestor of `rel` a real directory inside the root, creating
   * missing ones; a symlink ancestor (from this archive or already on disk) is refused.
   */
  private async ensureParents(rel: string): Promise<void> {
    const segs = rel.split('/');
    let cur = '';
    for (let i = 0; i < segs.length - 1; i++) {
      cur = cur === '' ? segs[i]! : `${cur}/${segs[i]!}`;
      if (this.realDirs.has(cur)) continue;
      const known = this.seen.get(cur);
      if (known?.kind === 'symlink') {
        throw archiveError(
          'ARCHIVE_UNSAFE_LINK',
          `archive entry ${JSON.stringify(rel)} would be written through the symlink ${JSON.stringify(cur)}`,
          'The archive is unsafe; do not extract it. Entries must not be written through symlinks.',
          { path: rel, symlink: cur },
        );
      }
      if (known?.kind === 'file') throw duplicate(rel, `is inside ${JSON.stringify(cur)}, a file`);
      const st = await lstat(this.abs(cur)).catch((err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      });
      if (st?.isSymbolicLink()) {
        throw archiveError(
          'ARCHIVE_UNSAFE_LINK',
          `archive entry ${JSON.stringify(rel)} would be written through the existing symlink ${JSON.stringify(cur)}`,
          'Extract into an empty directory, or remove the symlink from the destination first.',
          { path: rel, symlink: cur },
        );
      }
      if (st && !st.isDirectory()) await this.remove(cur);
      if (!st?.isDirectory()) {
        await mkdir(this.abs(cur), { mode: 0o755 });
        this.seen.set(cur, { kind: 'dir', explicit: false });
      }
      this.realDirs.add(cur);
    }
  }

  /** Prepares `rel` for a new entry: parents real, no duplicate, old lower-layer content gone. */
  private async claim(rel: string, kind: Seen['kind']): Promise<'fresh' | 'existing-dir'> {
    await this.ensureParents(rel);
    const known = this.seen.get(rel);
    if (known) {
      if (kind === 'dir' && known.kind === 'dir' && !known.explicit) {
        known.explicit = true;
        return 'existing-dir';
      }
      throw duplicate(rel);
    }
    const st = await lstat(this.abs(rel)).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    });
    if (st?.isDirectory() && kind === 'dir') return 'existing-dir';
    if (st) await this.remove(rel);
    return 'fresh';
  }

  private unsupported(m: TarMember, rel: string): void {
    const kind =
      {
        [TYPE.char]: 'character device',
        [TYPE.block]: 'block device',
        [TYPE.fifo]: 'fifo',
      }[m.typeflag] ?? `entry of type ${JSON.stringify(String.fromCharCode(m.typeflag))}`;
    const device =
      m.typeflag === TYPE.char || m.typeflag === TYPE.block || m.typeflag === TYPE.fifo;
    if (
      this.opts.onUnsupported === 'skip' ||
      (this.opts.onUnsupported === 'skip-devices' && device)
    ) {
      (this.opts.events ?? noEvents)({
        type: 'log',
        level: 'warn',
        message: `skipped ${kind} ${rel} while extracting`,
      });
      return;
    }
    throw archiveError(
      'ARCHIVE_UNSUPPORTED_ENTRY',
      `archive entry ${JSON.stringify(rel)} is a ${kind}`,
      'Only files, directories and links are extracted; pass onUnsupported: "skip" to leave special files out.',
      { path: rel, typeflag: String.fromCharCode(m.typeflag) },
    );
  }

  /** Applies one whiteout entry of an OCI layer; true when `rel` was one. */
  private async whiteout(rel: string): Promise<boolean> {
    const base = basename(rel);
    if (!base.startsWith(WHITEOUT)) return false;
    const dir = dirname(rel);
    await this.ensureParents(rel);
    if (base === OPAQUE) {
      await this.purgeLower(dir);
      return true;
    }
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') {
      throw archiveError(
        'ARCHIVE_UNSAFE_PATH',
        `whiteout ${JSON.stringify(rel)} names no entry of its directory`,
        'The layer is unsafe; do not apply it. A whiteout must be ".wh.<name>" with a real name.',
        { path: rel },
      );
    }
    // '.wh..wh.*' other than the opaque marker is AUFS metadata: ignored.
    if (name.startsWith(WHITEOUT)) return true;
    const target = dir === '' ? name : `${dir}/${name}`;
    // A whiteout hides lower layers only, never an entry of its own layer:
    // where this layer already wrote below `target`, only the rest goes.
    if (this.seen.has(target)) return true;
    const prefix = `${target}/`;
    if ([...this.seen.keys()].some((k) => k.startsWith(prefix))) await this.purgeLower(target);
    else await this.remove(target);
    return true;
  }

  /** Deletes everything under `dir` that this archive did not create. */
  private async purgeLower(dir: string): Promise<void> {
    for (const child of await readdir(this.abs(dir))) {
      const rel = dir === '' ? child : `${dir}/${child}`;
      const known = this.seen.get(rel);
      if (!known) await this.remove(rel);
      else if (known.kind === 'dir') await this.purgeLower(rel);
    }
  }

  /** Extracts one member; nothing is written outside the root. */
  async add(m: TarMember): Promise<void> {
    const rel = memberPath(m.name);
    if (rel === '') {
      if (m.typeflag === TYPE.dir) return; // "./" itself
      throw archiveError(
        'ARCHIVE_UNSAFE_PATH',
        `archive entry ${JSON.stringify(m.name)} names the destination itself`,
        'Rebuild the archive; only directories may name the root.',
        { path: m.name },
      );
    }
    this.checkLimits(rel);
    if (this.opts.applyWhiteouts && (await this.whiteout(rel))) return;
    const special = m.mode & 0o7022;
    if (special !== 0) {
      (this.opts.events ?? noEvents)({
        type: 'log',
        level: 'debug',
        message: `stripped mode bits ${special.toString(8)} from ${rel}`,
      });
    }
    switch (m.typeflag) {
      case TYPE.dir: {
        const mode = this.opts.normalizeModes === true ? 0o755 : (m.mode & 0o755) | 0o700;
        const state = await this.claim(rel, 'dir');
        if (state === 'fresh') await mkdir(this.abs(rel), { mode });
        await chmod(this.abs(rel), mode);
        if (!this.seen.has(rel)) this.seen.set(rel, { kind: 'dir', explicit: true });
        this.realDirs.add(rel);
        return;
      }
      case TYPE.file:
      case TYPE.contiguous: {
        // Refused before anything is written when the header already says it is too much.
        this.addBytes(m.size, rel);
        await this.claim(rel, 'file');
        const mode =
          this.opts.normalizeModes === true
            ? (m.mode & 0o111) !== 0
              ? 0o755
              : 0o644
            : m.mode & 0o755;
        const fh = await open(
          this.abs(rel),
          fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW,
          0o600,
        );
        const hash = createHash('sha256');
        let size = 0;
        try {
          for await (const chunk of m.body()) {
            hash.update(chunk);
            size += chunk.length;
            await fh.write(chunk);
          }
          await fh.chmod(mode);
        } finally {
          await fh.close();
        }
        const entry: Seen & { kind: 'file' } = {
          kind: 'file',
          digest: `sha256:${hash.digest('hex')}`,
          size,
          executable: (mode & 0o111) !== 0,
        };
        this.seen.set(rel, entry);
        this.tree.push({ path: rel, ...entry });
        return;
      }
      case TYPE.symlink: {
        const linkTarget =
          this.opts.absoluteLinks === 'rebase' ? rebaseLinkTarget(rel, m.linkname) : m.linkname;
        checkSymlinkTarget(rel, linkTarget);
        await this.claim(rel, 'symlink');
        await symlink(linkTarget, this.abs(rel));
        this.seen.set(rel, { kind: 'symlink' });
        this.tree.push({ path: rel, kind: 'symlink', target: linkTarget });
        return;
      }
      case TYPE.hardlink: {
        let target: string;
        try {
          target = memberPath(
            this.opts.absoluteLinks === 'rebase' ? m.linkname.replace(/^\/+/, '') : m.linkname,
          );
        } catch {
          throw unsafeLink(rel, m.linkname, 'points outside the destination');
        }
        const src = this.seen.get(target);
        if (src?.kind !== 'file') {
          throw unsafeLink(rel, m.linkname, 'is a hard link to no earlier file of the archive');
        }
        this.addBytes(src.size, rel);
        await this.claim(rel, 'file');
        // Materialised as a copy: a hard link would share the inode with the source.
        await copyFile(this.abs(target), this.abs(rel), fsc.COPYFILE_EXCL);
        this.seen.set(rel, { ...src });
        this.tree.push({
          path: rel,
          kind: 'file',
          digest: src.digest,
          size: src.size,
          executable: src.executable,
        });
        return;
      }
      default:
        this.unsupported(m, rel);
    }
  }
}

/**
 * Safely extracts a .tar.gz (or plain tar, detected by its magic) into destDir
 * and returns the tree it extracted, digests computed while writing. Absolute or
 * '..' paths, links leaving the root, writes through symlinks, duplicates and
 * (by default) special files are refused with typed errors; setuid/setgid/sticky
 * and group/world write bits are stripped (see `normalizeModes` for output
 * trees); nothing is written outside destDir.
 */
export async function extractTarGz(
  src: AsyncIterable<Uint8Array> | string,
  destDir: string,
  opts: ExtractOptions = {},
): Promise<TreeEntry[]> {
  const root = resolve(destDir);
  await mkdir(root, { recursive: true });
  const x = new Extractor(root, opts);
  const members = readMembers(src, {
    maxRatio: opts.limits?.maxRatio ?? DEFAULT_EXTRACT_LIMITS.maxRatio,
    ...(opts.compression ? { compression: opts.compression } : {}),
    ...(opts.onTarBytes ? { onTarBytes: opts.onTarBytes } : {}),
  });
  for await (const m of members) await x.add(m);
  return sortTree(x.tree);
}

/**
 * Reads an archive into memory-light entries (files with digest, size, mode and,
 * up to `maxContent` bytes, content; symlinks with their verbatim target);
 * directories are implied. Paths are validated as in extraction.
 */
export async function readTarGz(
  src: string | AsyncIterable<Uint8Array>,
  opts: ReadOptions = {},
): Promise<ReadEntry[]> {
  const out = new Map<string, ReadEntry>();
  const put = (e: ReadEntry): void => {
    if (out.has(e.path)) throw duplicate(e.path);
    out.set(e.path, e);
  };
  for await (const m of readMembers(src)) {
    const rel = memberPath(m.name);
    const mode = m.mode & 0o7777;
    if (m.typeflag === TYPE.dir) continue;
    if (rel === '') throw duplicate(m.name, 'names the archive root');
    if (m.typeflag === TYPE.file || m.typeflag === TYPE.contiguous) {
      const hash = createHash('sha256');
      const keep = opts.maxContent !== undefined && m.size <= opts.maxContent;
      const parts: Buffer[] = [];
      for await (const chunk of m.body()) {
        hash.update(chunk);
        if (keep) parts.push(chunk);
      }
      put({
        path: rel,
        kind: 'file',
        executable: (mode & 0o111) !== 0,
        digest: `sha256:${hash.digest('hex')}`,
        size: m.size,
        mode,
        ...(keep ? { content: Buffer.concat(parts, m.size) } : {}),
      });
    } else if (m.typeflag === TYPE.symlink) {
      put({ path: rel, kind: 'symlink', target: m.linkname, mode });
    } else if (m.typeflag === TYPE.hardlink) {
      let target: string;
      try {
        target = memberPath(m.linkname);
      } catch {
        throw unsafeLink(rel, m.linkname, 'points outside the archive');
      }
      const src = out.get(target);
      if (src?.kind !== 'file') {
        throw unsafeLink(rel, m.linkname, 'is a hard link to no earlier file of the archive');
      }
      put({ ...src, path: rel });
    } else if (opts.onUnsupported !== 'skip') {
      throw archiveError(
        'ARCHIVE_UNSUPPORTED_ENTRY',
        `archive entry ${JSON.stringify(rel)} has unsupported type ${JSON.stringify(String.fromCharCode(m.typeflag))}`,
        'Only files, directories and links can be read; pass onUnsupported: "skip" to leave special files out.',
        { path: rel, typeflag: String.fromCharCode(m.typeflag) },
      );
    }
  }
  return [...out.values()].sort((a, b) => compareBytes(a.path, b.path));
}

/**
 * The content of the first regular file of an archive whose member path
 * `pick` accepts, read without going further into the archive; undefined
 * when no file matches or the first match is larger than `maxBytes`.
 */
export async function readTarFile(
  src: string | AsyncIterable<Uint8Array>,
  pick: (path: string) => boolean,
  maxBytes: number,
): Promise<Buffer | undefined> {
  for await (const m of readMembers(src)) {
    if (m.typeflag !== TYPE.file && m.typeflag !== TYPE.contiguous) continue;
    if (!pick(memberPath(m.name))) continue;
    if (m.size > maxBytes) return undefined;
    const parts: Buffer[] = [];
    for await (const chunk of m.body()) parts.push(chunk);
    return Buffer.concat(parts, m.size);
  }
  return undefined;
}
