import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProjectConfig, TargetConfig } from '../config/index.js';
import { digestJson } from '../core/canonical.js';
import { digestHex, type Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import type { StatCache } from '../hash/stat-cache.js';
import type { FileLockEntry, Lock, LockErrorCode } from '../lock/index.js';
import type { Store } from '../store/index.js';
import type { PlacedInput } from '../builder/context.js';
import { treeOf } from './npm-install.js';

/*
 * `files:` entries as the sandbox sees them, one directory per fetched blob
 * and presentation (derived: rebuilt from the verified blob on demand, so
 * `store gc` may delete any of them):
 *
 *   $AIRLOCK_HOME/airlock/v1/files/<hex of {sha256, executable, extract}>/
 *     content/file           the blob's bytes, mode 0444 (0555 when executable)
 *     content/…              or: the archive unpacked (extract: true)
 *     placed.json            {"format":"airlock.placed-file/v1","sha256":"sha256:…","tree":"sha256:…"}
 */

export const PLACED_FILE_FORMAT = 'airlock.placed-file/v1';

interface PlaceContext {
  project: ProjectConfig;
  store: Store;
  statCache: StatCache;
  lock: Lock;
}

/**
 * A hook for the build: the `files:` entries a target names, each unpacked or
 * copied once from its verified blob and bound read-only at its declared path.
 * The presented tree is re-hashed (through the stat cache) at every use.
 */
export function filePlacer(ctx: PlaceContext): (target: TargetConfig) => Promise<PlacedInput[]> {
  const memo = new Map<string, Promise<{ tree: Digest; source: string; dir: boolean }>>();
  return async (target) => {
    const out: PlacedInput[] = [];
    for (const { name, path } of target.files ?? []) {
      const entry = ctx.lock.files.find((f) => f.name === name);
      if (entry === undefined)
        throw new AirlockError<LockErrorCode>(
          'LOCK_STALE',
          `airlock.lock has no entry for file "${name}" (targets.${target.name}.files)`,
          { hint: 'Run `airlock lock` and `airlock fetch`.', details: { file: name } },
        );
      let p = memo.get(name);
      if (!p) {
        p = place(ctx, entry);
        memo.set(name, p);
      }
      const placed = await p;
      out.push({
        name: `file ${name}`,
        tree: placed.tree,
        source: placed.source,
        dest: path,
        dir: placed.dir,
      });
    }
    return out;
  };
}

async function place(
  ctx: PlaceContext,
  entry: FileLockEntry,
): Promise<{ tree: Digest; source: string; dir: boolean }> {
  const id = digestJson({
    format: PLACED_FILE_FORMAT,
    sha256: entry.sha256,
    executable: entry.executable,
    extract: entry.extract,
  });
  const home = join(ctx.store.paths.files, digestHex(id));
  const content = join(home, 'content');
  const source = entry.extract ? content : join(content, 'file');
  const known = await readFile(join(home, 'placed.json'), 'utf8').then(
    (t) => JSON.parse(t) as { sha256?: string; tree?: Digest },
    () => undefined,
  );
  if (known?.sha256 === entry.sha256 && known.tree !== undefined) {
    // Reused only while what is on disk is still the tree recorded.
    if ((await treeOf(content, ctx.statCache)) === known.tree)
      return { tree: known.tree, source, dir: entry.extract };
  }
  const blob = await ctx.store.verifiedPath(entry.sha256);
  const work = await ctx.store.ownedTempDir('file');
  try {
    const staged = join(work, 'content');
    await mkdir(staged);
    if (entry.extract) {
      const { extractTarGz } = await import('../archive/index.js');
      await extractTarGz(blob, staged, { normalizeModes: true }).catch((err: unknown) => {
        throw new AirlockError<LockErrorCode>(
          'FILE_UNUSABLE',
          `file "${entry.name}" (${entry.url}) could not be unpacked: ${err instanceof Error ? err.message : String(err)}`,
          {
            hint: `extract: true takes a .tar, .tar.gz or .tgz; set extract: false under files.${entry.name} to place the file itself.`,
            details: { file: entry.name },
            cause: err,
          },
        );
      });
    } else {
      await copyFile(blob, join(staged, 'file'));
      await chmod(join(staged, 'file'), entry.executable ? 0o555 : 0o444);
    }
    const tree = await treeOf(staged, ctx.statCache);
    await rm(home, { recursive: true, force: true });
    await mkdir(home, { recursive: true });
    await rename(staged, content);
    await writeFile(
      join(home, 'placed.json'),
      JSON.stringify({ format: PLACED_FILE_FORMAT, sha256: entry.sha256, tree }),
    );
    return { tree, source, dir: entry.extract };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
