import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, symlink, utimes, writeFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError, fixedClock, sha256 } from '../core/index.js';
import { makeTempDir, putTinyImage, removeDir } from '../../test/helpers/store.js';
import { Store, type StoreErrorCode } from './index.js';
import { ownerIsDead, pidNamespace, processStartTime } from './owner.js';

async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<AirlockError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AirlockError);
  expect((err as AirlockError).code).toBe(code);
  return err as AirlockError;
}

const OLD = new Date('2020-01-01T00:00:00Z');

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('airlock-guard-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('Store.open on a directory that is not a store', () => {
  it('refuses a non-empty directory without the marker or oci-layout and leaves its tmp/ alone', async () => {
    const other = join(dir, 'project');
    await mkdir(join(other, 'tmp'), { recursive: true });
    await writeFile(join(other, 'tmp', 'keep.txt'), 'mine');
    await utimes(join(other, 'tmp', 'keep.txt'), OLD, OLD);
    await writeFile(join(other, 'README'), 'a project');
    const err = await rejectsWith(Store.open(other), 'STORE_NOT_A_STORE');
    expect(err.message).toContain(other);
    expect(err.hint).toMatch(/empty directory/);
    expect(await readdir(other)).toEqual(['README', 'tmp']);
    expect(await readFile(join(other, 'tmp', 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('refuses an empty path instead of using the current directory', async () => {
    await rejectsWith(Store.open(''), 'STORE_NOT_A_STORE');
  });

  it('creates a store in an empty directory and marks it', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const s = await Store.open(empty);
    s.close();
    expect(JSON.parse(await readFile(join(empty, 'airlock', 'v1', 'store.json'), 'utf8'))).toEqual({
      format: 'airlock.store/v1',
    });
    // A marked store reopens even with other files beside it.
    await writeFile(join(empty, 'notes.txt'), 'x');
    (await Store.open(empty)).close();
  });

  it('adopts an OCI image layout written by another tool', async () => {
    const layout = join(dir, 'layout');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(layout, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
    (await Store.open(layout)).close();
    expect(existsSync(join(layout, 'airlock', 'v1', 'store.json'))).toBe(true);
  });
});

describe('a store whose own directories are symlinks', () => {
  for (const sub of ['tmp', 'blobs/sha256', 'blobs', 'quarantine', 'airlock']) {
    it(`refuses ${sub}/ as a symlink, and fsck and gc delete nothing behind it`, async () => {
      const root = join(dir, 'store');
      const s = await Store.open(root);
      await putTinyImage(s);
      s.close();
      const victim = join(dir, 'victim');
      await mkdir(victim);
      await writeFile(join(victim, 'old-file'), 'precious');
      await writeFile(join(victim, 'a'.repeat(64)), 'precious too');
      await utimes(join(victim, 'old-file'), OLD, OLD);
      await utimes(join(victim, 'a'.repeat(64)), OLD, OLD);
      await rm(join(root, sub), { recursive: true });
      await symlink(victim, join(root, sub));
      const err = await rejectsWith(Store.open(root), 'STORE_UNSAFE');
      expect(err.message).toContain(join(root, sub));
      expect((await readdir(victim)).sort()).toEqual(['a'.repeat(64), 'old-file']);
    });
  }

  it('checks again before fsck and gc, when a directory was swapped after opening', async () => {
    const root = join(dir, 'store');
    const s = await Store.open(root, { clock: fixedClock(Date.now() + 10 * 86_400_000) });
    try {
      const victim = join(dir, 'victim');
      await mkdir(victim);
      await writeFile(join(victim, 'old-file'), 'precious');
      await utimes(join(victim, 'old-file'), OLD, OLD);
      await rm(join(root, 'tmp'), { recursive: true });
      await symlink(victim, join(root, 'tmp'));
      await rejectsWith(s.fsck({ repair: true, tmpGraceMs: 0 }), 'STORE_UNSAFE');
      await rejectsWith(s.gc({ retentionMs: 0 }), 'STORE_UNSAFE');
      expect(await readdir(victim)).toEqual(['old-file']);
    } finally {
      s.close();
    }
  });
});

describe('a blob path that holds something other than a regular file', () => {
  it('quarantines a symlink blob for real (the link, not its target), and the content can be stored again', async () => {
    const root = join(dir, 'store');
    const s = await Store.open(root);
    try {
      const { digest } = await s.putBytes(Buffer.from('real content'));
      const outside = join(dir, 'passwd');
      await writeFile(outside, 'root:x:0:0\n');
      const path = s.blobPath(digest);
      await rm(path, { force: true });
      await symlink(outside, path);
      expect(await s.has(digest)).toBe(false);
      const report = await s.fsck({ repair: true });
      expect(report.ok).toBe(false);
      expect(report.problems).toContainEqual(
        expect.objectContaining({ kind: 'corrupt-blob', digest, repaired: true }),
      );
      expect(existsSync(path)).toBe(false);
      expect((await lstat(path).catch(() => undefined)) === undefined).toBe(true);
      expect(await readFile(outside, 'utf8')).toBe('root:x:0:0\n');
      const q = await readdir(join(root, 'quarantine'));
      expect(q).toHaveLength(1);
      expect((await lstat(join(root, 'quarantine', q[0]!))).isSymbolicLink()).toBe(true);
      // The next write of the same content succeeds (it used to fail with EEXIST).
      expect((await s.putBytes(Buffer.from('real content'))).digest).toBe(digest);
      expect((await s.getBytes(digest)).toString()).toBe('real content');
    } finally {
      s.close();
    }
  });

  it('never hands out a symlink blob: a read is BLOB_CORRUPT and the link is moved away', async () => {
    const s = await Store.open(join(dir, 'store'));
    try {
      const digest = sha256('secret');
      const outside = join(dir, 'secret');
      await writeFile(outside, 'secret');
      await symlink(outside, s.blobPath(digest));
      await rejectsWith(s.getBytes(digest), 'BLOB_CORRUPT');
      expect(existsSync(s.blobPath(digest))).toBe(false);
      expect(await readFile(outside, 'utf8')).toBe('secret');
      // A write over the same name no longer trips over the link.
      await s.putStream(
        (async function* () {
          await Promise.resolve();
          yield Buffer.from('secret');
        })(),
      );
      expect((await s.getBytes(digest)).toString()).toBe('secret');
    } finally {
      s.close();
    }
  });

  it('writes over a symlink at the blob path (moving the link away) instead of failing with EEXIST', async () => {
    const s = await Store.open(join(dir, 'store'));
    try {
      const outside = join(dir, 'passwd');
      await writeFile(outside, 'root:x:0:0\n');
      const data = Buffer.from('a log of a step');
      await symlink(outside, s.blobPath(sha256(data)));
      expect((await s.putBytes(data)).digest).toBe(sha256(data));
      expect((await lstat(s.blobPath(sha256(data)))).isFile()).toBe(true);
      expect((await s.getBytes(sha256(data))).equals(data)).toBe(true);
      expect(await readFile(outside, 'utf8')).toBe('root:x:0:0\n');
    } finally {
      s.close();
    }
  });

  it('reports a directory at a blob path and goes on checking the blobs after it', async () => {
    const s = await Store.open(join(dir, 'store'));
    try {
      const a = await s.putBytes(Buffer.from('checked after the bad one'));
      const bad = `sha256:${'0'.repeat(64)}` as const;
      await mkdir(s.blobPath(bad));
      const report = await s.fsck({ repair: false });
      expect(report.blobsChecked).toBe(2);
      expect(report.problems).toContainEqual(
        expect.objectContaining({ kind: 'corrupt-blob', digest: bad, repaired: false }),
      );
      expect(report.problems.some((p) => p.digest === a.digest)).toBe(false);
      const repaired = await s.fsck({ repair: true });
      expect(repaired.problems).toContainEqual(
        expect.objectContaining({ kind: 'corrupt-blob', digest: bad, repaired: true }),
      );
      expect((await s.fsck()).ok).toBe(true);
    } finally {
      s.close();
    }
  });
});

describe('a damaged meta.sqlite or index.json', () => {
  const garbage = async (root: string): Promise<void> => {
    const meta = join(root, 'airlock', 'v1', 'meta.sqlite');
    await rm(`${meta}-wal`, { force: true });
    await rm(`${meta}-shm`, { force: true });
    await writeFile(meta, Buffer.alloc(8192, 0x5a));
  };

  it('is STORE_DAMAGED for ordinary use, and repair sets it aside and restores the tags from index.json', async () => {
    const root = join(dir, 'store');
    const s = await Store.open(root);
    const img = await putTinyImage(s);
    await s.setTag('app:1', img.manifest);
    const result = await s.putJson({ r: 1 });
    await s.putAction(sha256('key'), result.digest);
    s.close();
    await garbage(root);

    const err = await rejectsWith(Store.open(root), 'STORE_DAMAGED');
    expect(err.hint).toMatch(/airlock store fsck/);

    const reported = await Store.open(root, { onDamage: 'report' });
    try {
      expect(reported.damage).toEqual([
        expect.objectContaining({ kind: 'meta-damaged', repaired: false }),
      ]);
      expect(await reported.resolveTag('app:1')).toEqual(img.manifest);
    } finally {
      reported.close();
    }

    const repaired = await Store.open(root, { onDamage: 'repair' });
    try {
      const [problem] = repaired.damage;
      expect(problem).toMatchObject({ kind: 'meta-damaged', repaired: true });
      expect(problem?.message).toMatch(/action-cache entr/);
      const kept = /moved to (\S+) and recreated/.exec(problem!.message)![1]!;
      expect((await readFile(kept)).subarray(0, 4).toString()).toBe('ZZZZ');
      expect(await repaired.resolveTag('app:1')).toEqual(img.manifest);
      expect(await repaired.listActions()).toEqual([]);
    } finally {
      repaired.close();
    }
    (await Store.open(root)).close();
  });

  it('handles an index.json that became a directory', async () => {
    const root = join(dir, 'store');
    const s = await Store.open(root);
    const img = await putTinyImage(s);
    await s.setTag('app:1', img.manifest);
    s.close();
    await rm(join(root, 'index.json'));
    await mkdir(join(root, 'index.json'));
    await rejectsWith(Store.open(root), 'STORE_DAMAGED');
    const r = await Store.open(root, { onDamage: 'report' });
    const report = await r.fsck({ repair: false });
    r.close();
    expect(report.problems).toContainEqual(
      expect.objectContaining({ kind: 'index-damaged', repaired: false }),
    );
    const fixed = await Store.open(root, { onDamage: 'repair' });
    fixed.close();
    const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8')) as {
      manifests: unknown[];
    };
    expect(index.manifests).toHaveLength(1);
  });
});

describe('gc retention', () => {
  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses %s with INVALID_RETENTION and deletes nothing',
    async (retentionMs) => {
      const s = await Store.open(join(dir, 'store'));
      try {
        const { digest } = await s.putBytes(Buffer.from('young'));
        await rejectsWith(s.gc({ retentionMs }), 'INVALID_RETENTION');
        expect(await s.has(digest)).toBe(true);
      } finally {
        s.close();
      }
    },
  );
});

describe('owned temp directories', () => {
  it('records this process (pid and start time) in the name', async () => {
    const s = await Store.open(join(dir, 'store'));
    try {
      const work = await s.ownedTempDir('work');
      const name = work.slice(s.tmpDir.length + 1);
      expect(name).toMatch(
        new RegExp(
          `^work-${process.pid}\\.${processStartTime(process.pid)!}\\.${pidNamespace()!}-[A-Za-z0-9]{6}$`,
        ),
      );
      expect(ownerIsDead(name)).toBe(false);
    } finally {
      s.close();
    }
  });

  it('removes a dead owner’s directory at once and never a live one’s', async () => {
    const s = await Store.open(join(dir, 'store'));
    try {
      const live = await s.ownedTempDir('work');
      await writeFile(join(live, 'f'), 'in use');
      // A child that exits: its pid and start time now name no process.
      const child = spawn(process.execPath, ['-e', '0']);
      const pid = child.pid!;
      const start = processStartTime(pid) ?? '1';
      await new Promise((r) => child.on('exit', r));
      const ns = pidNamespace()!;
      const dead = join(s.tmpDir, `work-${pid}.${start}.${ns}-abcdef`);
      await mkdir(join(dead, 'sub'), { recursive: true });
      // A live pid with another start time: the pid was reused.
      const reused = join(s.tmpDir, `work-${process.pid}.1.${ns}-ghijkl`);
      await mkdir(reused);
      // Another pid namespace (a build in another container): never judged.
      const foreign = join(s.tmpDir, `work-${pid}.${start}.1-mnopqr`);
      await mkdir(foreign);
      const other = join(s.tmpDir, 'blob-unrelated.part');
      await writeFile(other, '');

      const report = await s.fsck({ repair: false });
      expect(
        report.problems
          .filter((p) => p.kind === 'dead-work-dir')
          .map((p) => p.path)
          .sort(),
      ).toEqual([dead, reused].sort());
      expect(existsSync(dead)).toBe(true);
      expect((await s.removeDeadTempDirs()).sort()).toEqual([dead, reused].sort());
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(reused)).toBe(false);
      expect(existsSync(foreign)).toBe(true);
      expect(await readFile(join(live, 'f'), 'utf8')).toBe('in use');
      expect(existsSync(other)).toBe(true);
      // However old it looks, a live owner's directory survives gc and fsck.
      await utimes(live, OLD, OLD);
      await utimes(other, OLD, OLD);
      await s.gc({ retentionMs: 0 });
      const fsck = await s.fsck({ repair: true, tmpGraceMs: 0 });
      expect(fsck.problems.some((p) => p.path === live)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(existsSync(other)).toBe(false);
    } finally {
      s.close();
    }
  });
});
