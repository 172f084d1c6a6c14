import { createHash } from 'node:crypto';
import { constants as fsc, createReadStream } from 'node:fs';
import { lstat, mkdir, open, symlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readMembers, TAR_TYPE } from '../archive/index.js';
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
}

/** Modes as npm leaves them with umask 022: pacote forces rw for the owner, bin-links chmods bins to 0755. */
const fileMode = (tarMode: number): number => ((tarMode | 0o666 | 0o600) & 0o777 & ~0o022) >>> 0;
const BIN_MODE = 0o755;
const WINDOWS_HASHBANG = /^#![^\n]+\r\n/;

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
  const ensureDir = async (rel: string): Promise<void> => {
    if (made.has(rel)) return;
    await mkdir(join(root, rel), { recursive: true, mode: 0o755 });
    for (let d = rel; d !== '.' && d !== '' && !made.has(d); d = posix.dirname(d)) made.add(d);
  };
  await mapLimit(opts.plan.packages, 8, async (pkg) => {
    for (const e of await unpack(pkg)) files.set(e.path, e);
  });

  async function unpack(pkg: NpmTreePackage): Promise<(TreeEntry & { kind: 'file' })[]> {
    const base = pkg.path.slice('node_modules/'.length);
    const bins = new Set(pkg.binTargets);
    const stored = opts.tarball(pkg.integrity);
    const hash = createHash('sha256');
    const stream = createReadStream(stored.path, { highWaterMark: 1 << 20 });
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
    const sawIgnores = new Set<string>();
    let hashed = false;
    try {
      for await (const m of readMembers(source)) {
        if (m.typeflag !== TAR_TYPE.file && m.typeflag !== TAR_TYPE.contiguous) continue; // npm skips dirs, links, devices
        let name = m.name;
        const baseName = posix.basename(name);
        if (baseName === '.npmignore') sawIgnores.add(name);
        else if (baseName === '.gitignore') {
          const ni = name.replace(/\.gitignore$/, '.npmignore');
          if (sawIgnores.has(ni)) continue;
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
        const inner = parts.slice(1).join('/');
        const rel = `${base}/${inner}`;
        const isBin = bins.has(inner);
        await ensureDir(posix.dirname(rel));
        let fh;
        try {
          fh = await open(
            join(root, rel),
            fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW,
            0o600,
          );
        } catch (err) {
          const code = errnoCode(err);
          if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ELOOP')
            throw new NotReproducible(`${pkg.path}: ${m.name} clashes with another entry`);
          throw err;
        }
        const h = createHash('sha256');
        let size = 0;
        try {
          if (isBin) {
            const parts: Buffer[] = [];
            for await (const chunk of m.body()) parts.push(chunk);
            let body = Buffer.concat(parts);
            const head = Buffer.alloc(2048);
            body.copy(head, 0, 0, 2048);
            if (WINDOWS_HASHBANG.test(head.toString()))
              body = Buffer.from(body.toString('utf8').replace(/^(#![^\n]+)\r\n/, '$1\n'), 'utf8');
            h.update(body);
            size = body.length;
            await fh.write(body);
          } else
            for await (const chunk of m.body()) {
              h.update(chunk);
              size += chunk.length;
              await fh.write(chunk);
            }
          await fh.chmod(isBin ? BIN_MODE : fileMode(m.mode));
        } finally {
          await fh.close();
        }
        const executable = isBin || (fileMode(m.mode) & 0o111) !== 0;
        out.set(inner, {
          path: rel,
          kind: 'file',
          executable,
          digest: `sha256:${h.digest('hex')}`,
          size,
        });
      }
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        hash.update(r.value);
      }
      hashed = true;
    } catch (err) {
      // A damaged tarball shows as a bad archive before its hash is known: say which it is.
      if (!(err instanceof NotReproducible)) await opts.verify(stored);
      throw err;
    } finally {
      stream.destroy();
    }
    if (!hashed || `sha256:${hash.digest('hex')}` !== stored.sha256) {
      await opts.verify(stored);
      throw new AirlockError<BuildErrorCode>(
        'STEP_FAILED',
        `the tarball of ${pkg.path} (${stored.sha256}) changed while it was unpacked`,
        { hint: 'Run `airlock store fsck`, then `airlock fetch`, and build again.' },
      );
    }
    if (out.size === 0) await ensureDir(base);
    return [...out.values()];
  }

  const tree: TreeEntry[] = [...files.values()];
  for (const l of opts.plan.links) {
    const rel = l.path.slice('node_modules/'.length);
    await ensureDir(posix.dirname(rel));
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
    await ensureDir(posix.dirname(rel));
    await symlink(b.target, join(root, rel));
    tree.push({ path: rel, kind: 'symlink', target: b.target });
  }
  await writeFile(join(root, '.package-lock.json'), opts.plan.hiddenLockfile, { mode: 0o644 });
  tree.push({
    path: '.package-lock.json',
    kind: 'file',
    executable: false,
    digest: `sha256:${createHash('sha256').update(opts.plan.hiddenLockfile).digest('hex')}`,
    size: Buffer.byteLength(opts.plan.hiddenLockfile),
  });
  return sortTree(tree);
}
