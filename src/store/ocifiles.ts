import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { canonicalJson, sortByBytes } from '../core/index.js';
import type { TagRow } from './meta.js';
import { MEDIA, REF_NAME_ANNOTATION, type Descriptor } from '../oci/index.js';
import type { StorePaths } from './layout.js';

/** A short random suffix for temp and quarantine names (not part of any output). */
export function randomSuffix(): string {
  return randomBytes(8).toString('hex');
}

/**
 * The index.json text for a set of tag rows: a valid OCI image index whose
 * manifests are sorted by tag name bytes, each annotated with its ref.name.
 */
export function renderIndex(rows: readonly TagRow[]): string {
  const manifests = sortByBytes(rows, (r) => r.name).map((row) => {
    const desc = JSON.parse(row.descriptor) as Descriptor;
    return { ...desc, annotations: { ...desc.annotations, [REF_NAME_ANNOTATION]: row.name } };
  });
  return canonicalJson({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests });
}

/** Creates `path` (which must not exist) with `text`, 0644, and fsyncs it before returning. */
export async function writeNewFileSynced(path: string, text: string): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a directory entry change (create, rename, unlink) to disk, in the thread pool. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a directory entry change (create, rename, unlink) to disk. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `target` atomically: write to `<root>/tmp` with 'wx', fsync,
 * rename over the target, fsync its directory; the temp file never survives.
 */
export function replaceFileSync(paths: StorePaths, target: string, text: string): void {
  const tmp = join(paths.tmp, `replace-${randomSuffix()}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    try {
      const buf = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
    fsyncDirSync(dirname(target));
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed (ENOENT) or unremovable: fsck reports leftovers in tmp/.
    }
  }
}
