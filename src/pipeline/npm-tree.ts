import { createHash } from 'node:crypto';
import {
  closeSync,
  constants as fsc,
  createReadStream,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { chmod, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { join, posix } from 'node:path';
import { membersOf, readMembers, TAR_TYPE } from '../archive/index.js';
import { sortTree, type TreeEntry } from '../core/tree.js';
import type { Digest } from '../core/digest.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import type { BuildErrorCode } from '../builder/errors.js';
import type { NpmTreePlan, NpmTreePackage } from '../lock/index.js';
import { mapLimit } from '../registry/retry.js';

/**
 * Thrown when a tarball holds something npm would unpack in a way this writer
 * does not reproduce (a `..` or absolute path, setuid bits, a file over a
 * directory…): the caller then installs with npm itself.
 */
export class NotReproducible extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A tarball of the store: where it is and the sha256 it must have. */
export interface StoredTarball {
  path: string;
  sha256: Digest;
}

export interface WriteNpmTreeOptions {
  /** The directory that receives `node_modules` (the package-lock's directory). */
  dir: string;
  plan: NpmTreePlan;
  tarball: (integrity: string) => StoredTarball;
  /**
   * Re-reads a tarball whose unpacking failed or whose bytes hashed to
   * something else; throws (after quarantining it) when it is not its sha256.
   */
  verify: (tarball: StoredTarball) => Promise<void>;
  /** Whether a path relative to the package-lock's directory exists outside node_modules (workspace bins). */
  sourceExists: (rel: string) => Promise<boolean>;
  /**
   * Told, for each unpacked tarball, its own package.json as `readTarFile`
   * finds it (the first file `<dir>/package.json`; undefined when there is
   * none or it is over MANIFEST_MAX), so its license is known without
   * reading the tarball again.
   */
  onManifest?: (tarball: StoredTarball, manifest: Buffer | undefined) => void;
}

/** Largest package.json handed to `onManifest` (what the SBOM reads at most). */
export const MANIFEST_MAX = 1 << 20;
const TOP_MANIFEST = /^[^/]+\/package\.json$/;

/** Modes as npm leaves them with umask 022: pacote forces rw for the owner, bin-links chmods bins to 0755. */
/** Tarballs up to this size are read whole and unpacked without streams. */
const IN_MEMORY_MAX = 32 * 2 ** 20;

function changed(pkg: NpmTreePackage, stored: StoredTarball): Error {
  return new AirlockError<BuildErrorCode>(
    'STEP_FAILED',
    `the tarball of ${pkg.path} (${stored.sha256}) changed while it was unpacked`,
    { hint: 'Run `airlock store fsck`, then `airlock fetch`, and build again.' },
  );
}

/** How long the writer runs before it lets other work of the process run. */
const YIELD_MS = 20;

/** The bytes of a file of up to IN_MEMORY_MAX bytes; undefined when it is larger. */
function readSmall(path: string): Buffer | undefined {
  const fd = openSync(path, fsc.O_RDONLY);
  try {
    return fstatSync(fd).size <= IN_MEMORY_MAX ? readFileSync(fd) : undefined;
  } finally {
    closeSync(fd);
  }
}

const fileMode = (tarMode: number): number => ((tarMode | 0o666 | 0o600) & 0o777 & ~0o022) >>> 0;
const BIN_MODE = 0o755;
const WINDOWS_HASHBANG = /^#![^\n]+\r\n/;

/** A file of a small tarball, ready to be written: its bytes, mode and tree entry. */
interface PlannedFile {
  data: Buffer;
  mode: number;
  entry: TreeEntry & { kind: 'file' };
}

/** Opens a file that must not exist yet (a clash, or a link in the way, fails instead of being followed). */
const CREATE_NEW = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

/** Packages and bytes handed to the thread pool and not yet written, at most. */
const WRITES_IN_FLIGHT = 16;
const BYTES_IN_FLIGHT = 64 * 2 ** 20;
/** Files of one package written at once. */
const FILES_IN_FLIGHT = 8;

/** A path that is already there, or whose parent is a file: the tarballs clash where npm would overwrite. */
function clash(rel: string): (err: unknown) => never {
  return (err) => {
    const code = errnoCode(err);
    if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'ELOOP')
      throw new NotReproducible(`${rel} clashes with another entry`);
    throw err;
  };
}

/** Writes in flight: bounded in count and bytes; the first failure is kept, the rest settle. */
class PendingWrites {
  private readonly pending = new Set<Promise<void>>();
  private bytes = 0;
  private failure: { err: unknown } | undefined;

  add(bytes: number, write: () => Promise<void>): void {
    this.bytes += bytes;
    const p: Promise<void> = write()
      .catch((err: unknown) => {
        this.failure ??= { err };
      })
      .finally(() => {
        this.pending.delete(p);
        this.bytes -= bytes;
      });
    this.pending.add(p);
  }

  /** Waits until `bytes` more fit; throws the first failure so far. */
  async room(bytes: number): Promise<void> {
    while (
      this.pending.size > 0 &&
      (this.pending.size >= WRITES_IN_FLIGHT || this.bytes + bytes > BYTES_IN_FLIGHT)
    )
      await Promise.race(this.pending);
    this.rethrow();
  }

  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  rethrow(): void {
    if (this.failure !== undefined) throw this.failure.err;
  }
}

/**
 * Writes the node_modules tree of `plan` the way `npm ci --ignore-scripts`
 * does (pacote's extraction rules, bin-links, workspace links, the hidden
 * lockfile), from verified store tarballs, and returns its tree entries
 * (relative to node_modules) hashed while writing. Nothing is written
 * outside `dir/node_modules`: entry paths are checked, and no link exists
 * until every file is written.
 */
export async function writeNpmTree(opts: WriteNpmTreeOptions): Promise<TreeEntry[]> {
  const root = join(opts.dir, 'node_modules');
  await mkdir(root, { recursive: true });
  const files = new Map<string, TreeEntry & { kind: 'file' }>();
  const made = new Set<string>(['']);
  const ensureDir = (rel: string): void => {
    if (made.has(rel)) return;
    mkdirSync(join(root, rel), { recursive: true, mode: 0o755 });
    for (let d = rel; d !== '.' && d !== '' && !made.has(d); d = posix.dirname(d)) made.add(d);
  };
  // Files are created with their final mode; a stricter umask than 022 needs a chmod after.
  const umask = process.umask();
  // Small tarballs are read, checked, inflated and hashed here; their
  // directories and files are created through the thread pool while the next
  // tarballs are unpacked (each create waits on the filesystem's journal,
  // which a busy machine makes slow: one at a time, those waits add up).
  const writes = new PendingWrites();
  let yielded = performance.now();
  try {
    for (const pkg of opts.plan.packages) {
      const stored = opts.tarball(pkg.integrity);
      const whole = readSmall(stored.path);
      if (whole !== undefined) {
        const unpacked = await unpackInMemory(pkg, stored, whole);
        for (const f of unpacked.files) files.set(f.entry.path, f.entry);
        await writes.room(unpacked.bytes);
        writes.add(unpacked.bytes, () => writePackage(unpacked.dirs, unpacked.files));
      } else {
        const entries = await unpackStreaming(pkg, stored);
        for (const e of entries) files.set(e.path, e);
        if (entries.length === 0) ensureDir(pkg.path.slice('node_modules/'.length));
      }
      if (performance.now() - yielded > YIELD_MS) {
        await new Promise<void>((r) => setImmediate(r));
        yielded = performance.now();
      }
    }
  } finally {
    // Nothing is still being written when this returns or throws (the caller removes `dir` on failure).
    await writes.settled();
  }
  writes.rethrow();

  /** Creates a package's directories, then its files, each once (no file exists before). */
  async function writePackage(dirs: string[], planned: PlannedFile[]): Promise<void> {
    await Promise.all(
      dirs.map((d) => mkdir(join(root, d), { recursive: true, mode: 0o755 }).catch(clash(d))),
    );
    // A few files at a time: each holds a descriptor from open to close.
    await mapLimit(planned, FILES_IN_FLIGHT, async (f) => {
      const path = join(root, f.entry.path);
      await writeFile(path, f.data, { mode: f.mode, flag: CREATE_NEW }).catch(clash(f.entry.path));
      if ((f.mode & ~umask) !== f.mode) await chmod(path, f.mode);
    });
  }

  /** Where a tar member goes inside its package, npm's way; undefined when npm skips it. */
  function placeOf(
    pkg: NpmTreePackage,
    m: { name: string; mode: number; typeflag: number },
    sawIgnores: Set<string>,
  ): string | undefined {
    if (m.typeflag !== TAR_TYPE.file && m.typeflag !== TAR_TYPE.contiguous) return undefined; // npm skips dirs, links, devices
    let name = m.name;
    const baseName = posix.basename(name);
    if (baseName === '.npmignore') sawIgnores.add(name);
    else if (baseName === '.gitignore') {
      const ni = name.replace(/\.gitignore$/, '.npmignore');
      if (sawIgnores.has(ni)) return undefined;
      name = ni;
    }
    const parts = name.split('/');
    if (
      parts.length < 2 ||
      parts.some((s) => s === '' || s === '.' || s === '..' || s === 'node_modules')
    )
      throw new NotReproducible(`${pkg.path}: tarball entry ${JSON.stringify(m.name)}`);
    if ((m.mode & 0o7000) !== 0)
      throw new NotReproducible(`${pkg.path}: ${m.name} has mode ${m.mode.toString(8)}`);
    return parts.slice(1).join('/');
  }

  /**
   * Opens a package file for writing: a new one with `mode`, or (`again`) the
   * file an earlier entry of the same path wrote, truncated, its mode kept as tar does.
   */
  function create(rel: string, mode: number, again: boolean): number {
    ensureDir(posix.dirname(rel));
    try {
      if (again) return openSync(join(root, rel), fsc.O_WRONLY | fsc.O_TRUNC | fsc.O_NOFOLLOW);
      const fd = openSync(join(root, rel), CREATE_NEW, mode);
      if ((mode & ~umask) !== mode) fchmodSync(fd, mode);
      return fd;
    } catch (err) {
      return clash(rel)(err);
    }
  }

  /**
   * One file's bytes (a bin target's hashbang line fixed as bin-links does),
   * mode and entry. A path met again keeps the mode it was created with
   * (`earlier`): tar rewrites the file in place.
   */
  function prepare(
    rel: string,
    tarMode: number,
    isBin: boolean,
    content: Buffer,
    earlier?: number,
  ): PlannedFile {
    let body = content;
    if (isBin) {
      const head = Buffer.alloc(2048);
      body.copy(head, 0, 0, 2048);
      if (WINDOWS_HASHBANG.test(head.toString()))
        body = Buffer.from(body.toString('utf8').replace(/^(#![^\n]+)\r\n/, '$1\n'), 'utf8');
    }
    const mode = isBin ? BIN_MODE : (earlier ?? fileMode(tarMode));
    return {
      data: body,
      mode,
      entry: {
        path: rel,
        kind: 'file',
        executable: (mode & 0o111) !== 0,
        digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
        size: body.length,
      },
    };
  }

  /** Writes one file's bytes with blocking calls (the streaming path) and returns its entry. */
  function writeWhole(
    rel: string,
    tarMode: number,
    isBin: boolean,
    content: Buffer,
    modes: Map<string, number>,
  ): TreeEntry & { kind: 'file' } {
    const f = prepare(rel, tarMode, isBin, content, modes.get(rel));
    const fd = create(rel, f.mode, modes.has(rel));
    modes.set(rel, f.mode);
    try {
      for (let off = 0; off < f.data.length;) off += writeSync(fd, f.data, off);
    } finally {
      closeSync(fd);
    }
    return f.entry;
  }

  /**
   * A small tarball: read whole, verified, inflated and planned here; returns
   * its files (the last entry of a path wins, as tar's overwrite) and the
   * directories to create first (only the deepest: each is made with its parents).
   */
  async function unpackInMemory(
    pkg: NpmTreePackage,
    stored: StoredTarball,
    bytes: Buffer,
  ): Promise<{ files: PlannedFile[]; dirs: string[]; bytes: number }> {
    if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== stored.sha256) {
      await opts.verify(stored);
      throw changed(pkg, stored);
    }
    let tar: Buffer;
    try {
      tar =
        bytes[0] === 0x1f && bytes[1] === 0x8b
          ? gunzipSync(bytes, { maxOutputLength: Math.max(256 * 2 ** 20, bytes.length * 200) })
          : bytes;
    } catch (err) {
      throw new AirlockError<BuildErrorCode>(
        'STEP_FAILED',
        `the tarball of ${pkg.path} (${stored.sha256}) cannot be decompressed: ${String(err)}`,
        {
          hint: 'The registry served a damaged package; it matches its lock entry, so the lock records it as is.',
        },
      );
    }
    const base = pkg.path.slice('node_modules/'.length);
    const bins = new Set(pkg.binTargets);
    const out = new Map<string, PlannedFile>();
    const sawIgnores = new Set<string>();
    let manifest: { bytes: Buffer | undefined } | undefined;
    for (const m of membersOf(tar)) {
      const inner = placeOf(pkg, m, sawIgnores);
      if (inner === undefined) continue;
      if (manifest === undefined && TOP_MANIFEST.test(m.name))
        manifest = { bytes: m.data.length > MANIFEST_MAX ? undefined : m.data };
      const rel = `${base}/${inner}`;
      // A later entry replaces the bytes of an earlier one; the file is written once.
      out.set(rel, prepare(rel, m.mode, bins.has(inner), m.data, out.get(rel)?.mode));
    }
    // Every directory the files need; one that is also a file's path cannot be made.
    const parents = new Set<string>([base]);
    for (const rel of out.keys())
      for (let d = posix.dirname(rel); d !== base && !parents.has(d); d = posix.dirname(d))
        parents.add(d);
    for (const rel of out.keys())
      if (parents.has(rel)) throw new NotReproducible(`${rel} clashes with another entry`);
    const inner = new Set([...parents].map((d) => posix.dirname(d)));
    const dirs = [...parents].filter((d) => !inner.has(d));
    opts.onManifest?.(stored, manifest?.bytes);
    let size = 0;
    for (const f of out.values()) size += f.data.length;
    return { files: [...out.values()], dirs, bytes: size };
  }

  /** A large tarball: streamed, hashed as it is read, checked against its sha256 at the end. */
  async function unpackStreaming(
    pkg: NpmTreePackage,
    stored: StoredTarball,
  ): Promise<(TreeEntry & { kind: 'file' })[]> {
    const base = pkg.path.slice('node_modules/'.length);
    const bins = new Set(pkg.binTargets);
    const hash = createHash('sha256');
    const stream = createReadStream(stored.path);
    const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    // Hashes every compressed byte as the reader pulls it; the reader cannot close it early.
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const r = await it.next();
          if (!r.done) hash.update(r.value);
          return r;
        },
        return: () => Promise.resolve({ done: true as const, value: undefined }),
      }),
    };
    const out = new Map<string, TreeEntry & { kind: 'file' }>();
    const modes = new Map<string, number>();
    const sawIgnores = new Set<string>();
    let manifest: { bytes: Buffer | undefined } | undefined;
    try {
      for await (const m of readMembers(source)) {
        const inner = placeOf(pkg, m, sawIgnores);
        if (inner === undefined) continue;
        const rel = `${base}/${inner}`;
        const isManifest = manifest === undefined && TOP_MANIFEST.test(m.name);
        if (isManifest && m.size > MANIFEST_MAX) manifest = { bytes: undefined };
        if (bins.has(inner) || (isManifest && manifest === undefined)) {
          const parts: Buffer[] = [];
          for await (const chunk of m.body()) parts.push(chunk);
          const whole = Buffer.concat(parts);
          if (isManifest) manifest ??= { bytes: whole };
          out.set(rel, writeWhole(rel, m.mode, bins.has(inner), whole, modes));
          continue;
        }
        const mode = modes.get(rel) ?? fileMode(m.mode);
        const fd = create(rel, mode, modes.has(rel));
        modes.set(rel, mode);
        const h = createHash('sha256');
        let size = 0;
        try {
          for await (const chunk of m.body()) {
            h.update(chunk);
            size += chunk.length;
            for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off);
          }
        } finally {
          closeSync(fd);
        }
        out.set(rel, {
          path: rel,
          kind: 'file',
          executable: (mode & 0o111) !== 0,
          digest: `sha256:${h.digest('hex')}`,
          size,
        });
      }
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        hash.update(r.value);
      }
    } catch (err) {
      // A damaged tarball shows as a bad archive before its hash is known: say which it is.
      if (!(err instanceof NotReproducible)) await opts.verify(stored);
      throw err;
    } finally {
      stream.destroy();
    }
    if (`sha256:${hash.digest('hex')}` !== stored.sha256) {
      await opts.verify(stored);
      throw changed(pkg, stored);
    }
    opts.onManifest?.(stored, manifest?.bytes);
    return [...out.values()];
  }

  const tree: TreeEntry[] = [...files.values()];
  for (const l of opts.plan.links) {
    const rel = l.path.slice('node_modules/'.length);
    ensureDir(posix.dirname(rel));
    await symlink(l.target, join(root, rel));
    tree.push({ path: rel, kind: 'symlink', target: l.target });
  }
  for (const b of opts.plan.bins) {
    const file = b.file.slice('node_modules/'.length);
    const through = opts.plan.links.find((l) => b.file.startsWith(`${l.path}/`));
    const exists =
      files.has(file) ||
      (through
        ? await opts.sourceExists(`${through.realpath}${b.file.slice(through.path.length)}`)
        : await lstat(join(root, file)).then(
            () => true,
            () => false,
          ));
    if (!exists) continue;
    const rel = b.link.slice('node_modules/'.length);
    ensureDir(posix.dirname(rel));
    await symlink(b.target, join(root, rel));
    tree.push({ path: rel, kind: 'symlink', target: b.target });
  }
  const hidden = join(root, '.package-lock.json');
  await writeFile(hidden, opts.plan.hiddenLockfile, { mode: 0o644 });
  if ((0o644 & ~umask) !== 0o644) await chmod(hidden, 0o644);
  tree.push({
    path: '.package-lock.json',
    kind: 'file',
    executable: false,
    digest: `sha256:${createHash('sha256').update(opts.plan.hiddenLockfile).digest('hex')}`,
    size: Buffer.byteLength(opts.plan.hiddenLockfile),
  });
  return sortTree(tree);
}
