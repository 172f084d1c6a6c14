import { constants as fsc, readFileSync } from 'node:fs';
import { lstat, open, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  compareBytes,
  errnoCode,
  isAirlockError,
  isDigest,
  type Clock,
  type Digest,
  type EventSink,
} from '../core/index.js';
import { blobFile, type StorePaths } from './layout.js';
import type { MetaDb } from './meta.js';
import { isOciDocument, referrersTag, type Descriptor } from '../oci/index.js';
import { digestStrings, mayBeJson, strictReferences } from './refs.js';
import { ownerIsAlive, ownerIsDead } from './owner.js';
import type { BlobState, Store } from './store.js';
import type { FsckProblem, FsckReport, GcReport } from './types.js';

/** What fsck and gc need from a Store, handed over by the Store itself. */
export interface MaintenanceContext {
  store: Store;
  paths: StorePaths;
  meta: MetaDb;
  clock: Clock;
  events: EventSink;
  indexText(): string;
  rewriteIndex(): void;
  inspectBlob(digest: Digest, repair: boolean): Promise<BlobState>;
  /** False when the tags live only in memory (a report-only open of a damaged store). */
  writable: boolean;
  /** Damage the Store met while opening (meta.sqlite, index.json). */
  damage: readonly FsckProblem[];
}

const HEX_NAME = /^[0-9a-f]{64}$/;
/** The tag-schema referrers index of sha256:<hex> (see oci/referrers.ts). */
const REFERRERS_TAG = /^sha256-([0-9a-f]{64})$/;
// JSON documents worth parsing for references; larger blobs are layers or data.
const MAX_JSON_BYTES = 16 << 20;
const DEFAULT_TMP_GRACE_MS = 60 * 60 * 1000;

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort(compareBytes);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Parses a stored blob as JSON when it plausibly is JSON; undefined otherwise. */
async function readJsonBlob(
  ctx: MaintenanceContext,
  digest: Digest,
  mediaType?: string,
): Promise<unknown> {
  if (!mayBeJson(mediaType)) return undefined;
  const path = blobFile(ctx.paths, digest);
  let first: number | undefined;
  try {
    const st = await lstat(path);
    if (!st.isFile() || st.size > MAX_JSON_BYTES || st.size === 0) return undefined;
    const fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      const head = Buffer.alloc(64);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      first = head.subarray(0, bytesRead).toString('utf8').trimStart().charCodeAt(0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ELOOP') return undefined;
    throw err;
  }
  if (first !== 0x7b && first !== 0x5b) return undefined; // '{' or '['
  try {
    return JSON.parse((await ctx.store.getBytes(digest)).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError || isAirlockError(err, 'BLOB_CORRUPT', 'BLOB_NOT_FOUND'))
      return undefined;
    throw err;
  }
}

/** Media types of descriptors inside an OCI document, so layers are not opened as JSON. */
function noteMediaTypes(doc: unknown, into: Map<Digest, string>): void {
  if (!isOciDocument(doc)) return;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o['mediaType'] === 'string' && isDigest(o['digest']))
        into.set(o['digest'], o['mediaType']);
      for (const [k, item] of Object.entries(o)) if (k !== 'annotations') visit(item);
    }
  };
  visit(doc);
}

/**
 * Re-hashes every blob (quarantining bad ones), follows every reference from
 * tags and action entries, and reports dangling ones, stray and temp files and
 * a stale index.json. With `repair`: removes old temp files and stray files,
 * drops action entries whose results are incomplete, and regenerates index.json.
 */
export async function runFsck(
  ctx: MaintenanceContext,
  opts: { repair?: boolean; tmpGraceMs?: number },
): Promise<FsckReport> {
  const repair = opts.repair === true;
  const problems: FsckProblem[] = [];
  const present = new Set<Digest>();
  let blobsChecked = 0;
  let bytesChecked = 0;
  let corrupt = 0;

  problems.push(...ctx.damage);
  const names = await listDir(ctx.paths.blobs);
  for (const name of names) {
    const path = join(ctx.paths.blobs, name);
    if (!HEX_NAME.test(name)) {
      if (repair) await unlink(path).catch(() => undefined);
      problems.push({
        kind: 'stray-file',
        severity: 'cleanable',
        message: `${path} is not named by a sha256 digest`,
        path,
        repaired: repair,
      });
      continue;
    }
    const digest: Digest = `sha256:${name}`;
    blobsChecked++;
    let r: BlobState;
    try {
      r = await ctx.inspectBlob(digest, repair);
    } catch (err) {
      // One unreadable blob (EIO, EACCES …) must not stop the check of the others.
      corrupt++;
      problems.push({
        kind: 'unreadable-blob',
        severity: 'error',
        message: `blob ${digest} cannot be read (${errnoCode(err) ?? String(err)}); remove ${path} and fetch or build it again`,
        digest,
        path,
        repaired: false,
      });
      continue;
    }
    if (r.state === 'ok') {
      present.add(digest);
      bytesChecked += r.size;
    } else if (r.state === 'corrupt') {
      corrupt++;
      bytesChecked += r.size;
      problems.push({
        kind: 'corrupt-blob',
        severity: 'error',
        message: `blob ${digest} hashes to ${r.actual}; moved to quarantine/`,
        digest,
        path,
        repaired: true,
      });
    } else if (r.state === 'odd') {
      corrupt++;
      problems.push({
        kind: 'corrupt-blob',
        severity: 'error',
        message: `blob path ${path} holds ${r.found}, not a regular file${r.movedTo ? `; moved to ${r.movedTo}` : ''}`,
        digest,
        path,
        repaired: r.movedTo !== undefined,
      });
    }
    ctx.events({
      type: 'progress',
      phase: 'fsck',
      done: blobsChecked,
      total: names.length,
      bytes: bytesChecked,
    });
  }

  // References: tags → manifests → descriptors; actions → results → every digest in them.
  let dangling = 0;
  const mediaTypes = new Map<Digest, string>();
  const visited = new Set<Digest>();
  const walk = async (start: Digest, root: string): Promise<FsckProblem[]> => {
    const found: FsckProblem[] = [];
    // Blobs reached through OCI descriptors are followed only if they are OCI
    // documents themselves: an image config's diff_ids name uncompressed layers
    // that are never stored.
    const queue: { digest: Digest; from: string; ociOnly: boolean }[] = [
      { digest: start, from: root, ociOnly: root.startsWith('tag:') },
    ];
    while (queue.length > 0) {
      const { digest, from, ociOnly } = queue.shift()!;
      if (!present.has(digest)) {
        const isRoot = from === root;
        found.push({
          kind: !isRoot
            ? 'dangling-reference'
            : root.startsWith('tag:')
              ? 'dangling-tag'
              : 'dangling-action',
          severity: 'error',
          message: `${from} refers to ${digest}, which is not in the store`,
          digest,
          from,
          repaired: false,
        });
        continue;
      }
      if (visited.has(digest)) continue;
      visited.add(digest);
      const doc = await readJsonBlob(ctx, digest, mediaTypes.get(digest));
      const oci = isOciDocument(doc);
      if (doc === undefined || (ociOnly && !oci)) continue;
      noteMediaTypes(doc, mediaTypes);
      for (const ref of sortSet(strictReferences(doc))) {
        if (ref !== digest) queue.push({ digest: ref, from: `blob:${digest}`, ociOnly: oci });
      }
    }
    dangling += found.length;
    problems.push(...found);
    return found;
  };
  for (const row of sortRows(ctx.meta.listTags(), (r) => r.name)) {
    const desc = JSON.parse(row.descriptor) as Descriptor;
    mediaTypes.set(desc.digest, desc.mediaType);
    const found = await walk(desc.digest, `tag:${row.name}`);
    if (found.length > 0 && repair && ctx.writable) {
      // An incomplete artifact is dropped: a build tags it again, a pull fetches it again.
      ctx.meta.immediate(() => ctx.meta.deleteTag(row.name));
      // Its referrers list (attached evidence) goes with it: the build that tags it again attaches anew.
      const referrers = referrersTag(desc.digest);
      if (ctx.meta.listTags().some((t) => t.name === referrers))
        ctx.meta.immediate(() => ctx.meta.deleteTag(referrers));
      for (const p of found) p.repaired = true;
      problems.push({
        kind: 'damaged-artifact',
        severity: 'cleanable',
        message: `tag ${row.name} (${desc.digest}) was dropped: ${found.length} blob${found.length === 1 ? '' : 's'} of it ${found.length === 1 ? 'is' : 'are'} missing or corrupt (${found.map((p) => p.digest).join(', ')}); the next build of its target tags it again, or pull it again`,
        digest: desc.digest,
        from: `tag:${row.name}`,
        repaired: true,
      });
    }
  }
  for (const row of sortRows(ctx.meta.listActions(), (r) => r.key)) {
    if (!isDigest(row.result)) continue;
    // Each result is walked afresh so every entry learns whether it is complete;
    // an incomplete entry is useless as a cache hit, so repair drops it.
    visited.clear();
    const found = await walk(row.result, `action:${row.key}`);
    if (found.length > 0 && repair) {
      ctx.meta.deleteAction(row.key);
      for (const p of found) p.repaired = true;
    }
  }

  // Work directories of processes that are gone: removed at once, whatever their age.
  const dead = repair ? await removeDeadOwned(ctx.paths.tmp) : await deadOwned(ctx.paths.tmp);
  for (const path of dead) {
    problems.push({
      kind: 'dead-work-dir',
      severity: 'cleanable',
      message: `${path} belongs to a process that is gone`,
      path,
      repaired: repair,
    });
  }
  const deadNames = new Set(dead.map((p) => p.slice(ctx.paths.tmp.length + 1)));

  // Temp files: harmless leftovers of interrupted writes, or writes in progress.
  let leftoverTmp = 0;
  const grace = opts.tmpGraceMs ?? DEFAULT_TMP_GRACE_MS;
  for (const name of await listDir(ctx.paths.tmp)) {
    // A running build's work directory is neither a problem nor old, however long it runs.
    if (deadNames.has(name) || ownerIsAlive(name)) continue;
    const path = join(ctx.paths.tmp, name);
    leftoverTmp++;
    let removed = false;
    if (repair) {
      const st = await lstat(path).catch(() => undefined);
      if (st !== undefined && st.mtimeMs < ctx.clock.now() - grace) {
        // Build work directories live here too: remove files and directories alike.
        await rm(path, { recursive: true, force: true }).catch(() => undefined);
        removed = true;
      }
    }
    problems.push({
      kind: 'leftover-tmp',
      severity: 'cleanable',
      message: `${path} is a temporary file of an interrupted or running write`,
      path,
      repaired: removed,
    });
  }

  let indexText: string | undefined;
  try {
    indexText = readFileSync(ctx.paths.index, 'utf8');
  } catch (err) {
    // A damaged index.json (a directory …) was reported when the store was opened.
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'EISDIR') throw err;
  }
  if (indexText !== ctx.indexText()) {
    if (repair) ctx.rewriteIndex();
    problems.push({
      kind: 'index-out-of-sync',
      severity: 'cleanable',
      message: `${ctx.paths.index} does not match the tag table`,
      path: ctx.paths.index,
      repaired: repair,
    });
  }

  return {
    ok: problems.every((p) => p.severity !== 'error'),
    blobsChecked,
    bytesChecked,
    corrupt,
    dangling,
    leftoverTmp,
    problems,
  };
}

/** The owned temp directories under `tmp` whose owner process is gone. */
async function deadOwned(tmp: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await listDir(tmp)) if (ownerIsDead(name)) out.push(join(tmp, name));
  return out;
}

/** Removes the owned temp directories of dead processes (real directories only); returns them. */
export async function removeDeadOwned(tmp: string): Promise<string[]> {
  const removed: string[] = [];
  for (const path of await deadOwned(tmp)) {
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

function sortSet(set: Set<Digest>): Digest[] {
  return [...set].sort(compareBytes);
}

function sortRows<T>(rows: T[], key: (r: T) => string): T[] {
  return [...rows].sort((a, b) => compareBytes(key(a), key(b)));
}

/**
 * Marks every blob reachable from the tags and from action entries younger
 * than `retentionMs` (any digest-shaped string in a reachable JSON blob is a
 * reference), then deletes unmarked blobs older than the retention; a dry run
 * reports the same numbers and deletes nothing.
 */
export async function runGc(
  ctx: MaintenanceContext,
  opts: { retentionMs: number; dryRun?: boolean; roots?: readonly Digest[] },
): Promise<GcReport> {
  const dryRun = opts.dryRun === true;
  const now = ctx.clock.now();
  const cutoff = now - opts.retentionMs;

  const roots = new Set<Digest>();
  const mediaTypes = new Map<Digest, string>();
  // A referrers index (tag sha256-<hex>) lives only while its subject does.
  const referrerTags = new Map<Digest, { name: string; index: Digest }>();
  for (const row of ctx.meta.listTags()) {
    const desc = JSON.parse(row.descriptor) as Descriptor;
    mediaTypes.set(desc.digest, desc.mediaType);
    const subject = REFERRERS_TAG.exec(row.name);
    if (subject) referrerTags.set(`sha256:${subject[1]!}`, { name: row.name, index: desc.digest });
    else roots.add(desc.digest);
  }
  for (const d of opts.roots ?? []) if (isDigest(d)) roots.add(d);
  const actions = ctx.meta.listActions();
  for (const row of actions) {
    if (row.created_at < cutoff) continue;
    for (const d of [row.key, row.result]) if (isDigest(d)) roots.add(d);
  }

  const marked = new Set<Digest>();
  const queue = sortSet(roots);
  const liveReferrers = new Set<Digest>();
  for (;;) {
    while (queue.length > 0) {
      const digest = queue.shift()!;
      if (marked.has(digest)) continue;
      marked.add(digest);
      const doc = await readJsonBlob(ctx, digest, mediaTypes.get(digest));
      if (doc === undefined) continue;
      for (const [d, mt] of descriptorMediaTypes(doc))
        if (!mediaTypes.has(d)) mediaTypes.set(d, mt);
      for (const ref of sortSet(digestStrings(doc))) if (!marked.has(ref)) queue.push(ref);
    }
    // Attachments of live artifacts are live (and may have attachments of their own).
    const next = [...referrerTags].filter(
      ([subject]) => marked.has(subject) && !liveReferrers.has(subject),
    );
    if (next.length === 0) break;
    for (const [subject, { index }] of next) {
      liveReferrers.add(subject);
      queue.push(index);
    }
  }
  let referrersDropped = 0;
  for (const [subject, { name }] of referrerTags) {
    if (liveReferrers.has(subject)) continue;
    referrersDropped++;
    if (!dryRun) ctx.meta.deleteTag(name);
  }
  if (referrersDropped > 0 && !dryRun) ctx.rewriteIndex();

  const freed: Digest[] = [];
  let bytesFreed = 0;
  let keptYoung = 0;
  let reachable = 0;
  for (const name of await listDir(ctx.paths.blobs)) {
    if (!HEX_NAME.test(name)) continue;
    const digest: Digest = `sha256:${name}`;
    if (marked.has(digest)) {
      reachable++;
      continue;
    }
    const path = join(ctx.paths.blobs, name);
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined) continue;
    if (st.mtimeMs >= cutoff) {
      keptYoung++;
      continue;
    }
    if (!dryRun) {
      try {
        await unlink(path);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue;
        throw err;
      }
    }
    freed.push(digest);
    bytesFreed += st.size;
    ctx.events({ type: 'progress', phase: 'gc', done: freed.length, bytes: bytesFreed });
  }

  // Old action entries whose result is gone (now or after this run) are dropped.
  const freedSet = new Set(freed);
  let actionsExpired = 0;
  for (const row of actions) {
    if (row.created_at >= cutoff || !isDigest(row.result)) continue;
    const gone = freedSet.has(row.result) || !(await ctx.store.has(row.result));
    if (!gone) continue;
    actionsExpired++;
    if (!dryRun) ctx.meta.deleteAction(row.key);
  }

  let tmpFilesRemoved = 0;
  const tmpCutoff = Math.min(cutoff, now - DEFAULT_TMP_GRACE_MS);
  for (const name of await listDir(ctx.paths.tmp)) {
    if (ownerIsAlive(name)) continue;
    const path = join(ctx.paths.tmp, name);
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined || st.mtimeMs >= tmpCutoff) continue;
    if (!dryRun) await rm(path, { recursive: true, force: true }).catch(() => undefined);
    tmpFilesRemoved++;
  }

  return {
    dryRun,
    roots: roots.size,
    reachable,
    keptYoung,
    blobsFreed: freed.length,
    bytesFreed,
    freed: freed.sort(compareBytes),
    actionsExpired,
    tmpFilesRemoved,
    referrersDropped,
  };
}

/** Digest → media type for every descriptor of an OCI document. */
function descriptorMediaTypes(doc: unknown): Map<Digest, string> {
  const out = new Map<Digest, string>();
  noteMediaTypes(doc, out);
  return out;
}
