import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, type Event } from '@parcel/watcher';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DOUBT_EVENTS, ProjectWatcher, type Subscribe } from './watch.js';

/**
 * A real @parcel/watcher subscription the test can misdirect: `drop` loses
 * every event but the watcher's cookies (a watcher that missed changes), and
 * `inject` delivers an error or made-up events.
 */
function unreliable(): {
  subscribe: Subscribe;
  drop: boolean;
  inject: (err: Error | null, events: Event[]) => void;
} {
  const callbacks: ((err: Error | null, events: Event[]) => void)[] = [];
  const ctl = {
    drop: false,
    inject: (err: Error | null, events: Event[]) => {
      for (const cb of callbacks) cb(err, events);
    },
    subscribe: (async (dir, fn, opts) => {
      callbacks.push(fn);
      return subscribe(
        dir,
        (err, events) =>
          fn(err, ctl.drop ? events.filter((e) => e.path.includes('daemon-cookie')) : events),
        opts,
      );
    }) as Subscribe,
  };
  return ctl;
}

/**
 * A real subscription that plays the watcher's crawl race: each subscription
 * makes a directory tree `race<n>/a/b` (with a file) just before its crawl
 * and never reports anything in it, as when the crawl listed the parent
 * before the tree was made and watched the parent after. A later
 * subscription crawls it and reports it like any other.
 */
function crawlRace(): { subscribe: Subscribe; hidden: string | undefined } {
  let n = 0;
  const ctl = {
    hidden: undefined as string | undefined,
    subscribe: (async (dir, fn, opts) => {
      const hidden = join(dir, `race${++n}`);
      mkdirSync(join(hidden, 'a', 'b'), { recursive: true });
      writeFileSync(join(hidden, 'a', 'b', 'g.txt'), 'one\n');
      ctl.hidden = hidden;
      const unseen = (p: string): boolean => p === hidden || p.startsWith(`${hidden}/`);
      return subscribe(
        dir,
        (err, events) =>
          fn(
            err,
            events.filter((e) => !unseen(e.path)),
          ),
        opts,
      );
    }) as Subscribe,
  };
  return ctl;
}

/** Every directory below `dir` (itself included), not following symlinks. */
function allDirs(dir: string): string[] {
  const out = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory() && e.name !== '.airlock') out.push(...allDirs(join(dir, e.name)));
  return out;
}

/** A directory's entries as the walk hands them to a hint. */
function listing(dir: string): { name: string; kind: 'dir' | 'file' | 'symlink' | 'other' }[] {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) => ({
      name: e.name,
      kind: e.isDirectory()
        ? ('dir' as const)
        : e.isFile()
          ? ('file' as const)
          : e.isSymbolicLink()
            ? ('symlink' as const)
            : ('other' as const),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const FILE = {
  kind: 'file',
  digest: `sha256:${'a'.repeat(64)}`,
  size: 1,
  executable: false,
  sig: 's',
} as const;

let root: string;
let watcher: ProjectWatcher | undefined;
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-watch-')));
  writeFileSync(join(root, 'f.txt'), 'one\n');
});
afterEach(async () => {
  await watcher?.close();
  vi.restoreAllMocks();
  rmSync(root, { recursive: true, force: true });
});

/** A watcher that remembered f.txt in one build, then missed an edit of it. */
async function staleKnowledge(): Promise<ReturnType<typeof unreliable>> {
  const ctl = unreliable();
  watcher = new ProjectWatcher(root, ctl.subscribe);
  await watcher.start();
  const first = await watcher.hintFor(root);
  first!.rememberEntry(join(root, 'f.txt'), FILE);
  first!.done();
  ctl.drop = true;
  writeFileSync(join(root, 'f.txt'), 'two\n');
  return ctl;
}

describe('ProjectWatcher', () => {
  it('forgets a file when the watcher reports a change to it', async () => {
    watcher = new ProjectWatcher(root, subscribe);
    await watcher.start();
    const first = await watcher.hintFor(root);
    first!.rememberEntry(join(root, 'f.txt'), FILE);
    first!.done();
    const same = await watcher.hintFor(root);
    expect(same!.entry(join(root, 'f.txt'))).toEqual(FILE);
    same!.done();
    writeFileSync(join(root, 'f.txt'), 'two\n');
    const after = await watcher.hintFor(root);
    expect(after!.entry(join(root, 'f.txt'))).toBeUndefined();
    after!.done();
  });

  it('gives nothing for another directory than the one it watches', async () => {
    watcher = new ProjectWatcher(root, subscribe);
    await watcher.start();
    expect(await watcher.hintFor(tmpdir())).toBeUndefined();
  });

  describe('when in doubt it drops everything it knew', () => {
    it('keeps a missed change (the case each reset below guards against)', async () => {
      await staleKnowledge();
      const hint = await watcher!.hintFor(root);
      expect(hint!.entry(join(root, 'f.txt'))).toEqual(FILE);
      hint!.done();
    });

    it('after a watch error, and watches again', async () => {
      const ctl = await staleKnowledge();
      ctl.inject(new Error('inotify went away'), []);
      expect(watcher!.status().healthy).toBe(false);
      const hint = await watcher!.hintFor(root);
      expect(hint!.entry(join(root, 'f.txt'))).toBeUndefined();
      expect(watcher!.status()).toMatchObject({ healthy: true });
      hint!.done();
    });

    it('after a burst of events that may have overflowed the kernel queue', async () => {
      const ctl = await staleKnowledge();
      ctl.inject(
        null,
        Array.from({ length: DOUBT_EVENTS }, (_, i) => ({
          type: 'update',
          path: join(root, 'elsewhere', `${i}`),
        })),
      );
      const hint = await watcher!.hintFor(root);
      expect(hint!.entry(join(root, 'f.txt'))).toBeUndefined();
      expect(watcher!.status().lastReset).toMatch(/overflow/);
      hint!.done();
    });

    it('after the wall clock jumped', async () => {
      await staleKnowledge();
      const now = Date.now();
      vi.spyOn(Date, 'now').mockReturnValue(now + 3_600_000);
      const hint = await watcher!.hintFor(root);
      expect(hint!.entry(join(root, 'f.txt'))).toBeUndefined();
      expect(watcher!.status().lastReset).toMatch(/clock/);
      hint!.done();
    });

    it('after airlock.yaml changed', async () => {
      watcher = new ProjectWatcher(root, subscribe);
      await watcher.start();
      const first = await watcher.hintFor(root);
      first!.rememberEntry(join(root, 'other.txt'), FILE);
      first!.done();
      writeFileSync(join(root, 'airlock.yaml'), 'version: 1\n');
      const hint = await watcher.hintFor(root);
      expect(hint!.entry(join(root, 'other.txt'))).toBeUndefined();
      expect(watcher.status().lastReset).toMatch(/airlock\.yaml changed/);
      hint!.done();
    });

    it('remembers nothing read after a change it was told of during the build', async () => {
      watcher = new ProjectWatcher(root, subscribe);
      await watcher.start();
      const hint = await watcher.hintFor(root);
      writeFileSync(join(root, 'f.txt'), 'changed mid-build\n');
      // Wait for the event through a second build's cookie (that build only syncs).
      const other = await watcher.hintFor(root);
      other!.done();
      hint!.rememberEntry(join(root, 'f.txt'), FILE);
      hint!.done();
      const next = await watcher.hintFor(root);
      expect(next!.entry(join(root, 'f.txt'))).toBeUndefined();
      next!.done();
    });
  });

  describe('when a directory is made while the watcher crawls the tree', () => {
    it('remembers nothing in it, though the watcher never reported it', async () => {
      const ctl = crawlRace();
      watcher = new ProjectWatcher(root, ctl.subscribe);
      await watcher.start();
      const first = await watcher.hintFor(root);
      const dir = join(ctl.hidden!, 'a', 'b');
      const file = join(dir, 'g.txt');
      first!.rememberListing(dir, listing(dir));
      first!.rememberEntry(file, FILE);
      first!.done();
      writeFileSync(file, 'two\n');
      writeFileSync(join(dir, 'h.txt'), 'new\n');
      const next = await watcher.hintFor(root);
      expect(next!.entry(file)).toBeUndefined();
      expect(next!.listing(dir)).toBeUndefined();
      next!.done();
      expect(watcher.status().crawlSuspects).toBeGreaterThan(0);
    });

    it('knows it once a later crawl has watched it', async () => {
      const ctl = crawlRace();
      watcher = new ProjectWatcher(root, ctl.subscribe);
      await watcher.start();
      const made = ctl.hidden!;
      (await watcher.hintFor(root))!.done(); // crawls again: `made` is watched now
      const file = join(made, 'a', 'b', 'g.txt');
      const hint = await watcher.hintFor(root);
      hint!.rememberEntry(file, FILE);
      hint!.done();
      const next = await watcher.hintFor(root);
      expect(next!.entry(file)).toEqual(FILE);
      next!.done();
    });

    it('keeps no stale listing while nested directories are made at a high rate during start and the first build', async () => {
      for (let p = 0; p < 20; p++)
        for (let d = 0; d < 20; d++) mkdirSync(join(root, `p${p}`, `d${d}`), { recursive: true });
      const maker = spawn(
        process.execPath,
        [
          '-e',
          `const fs = require('node:fs');
           process.stdout.write('ready\\n');
           for (let i = 0; i < 600; i++) {
             const d = process.argv[1] + '/n' + i + '/x/y';
             fs.mkdirSync(d, { recursive: true });
             fs.writeFileSync(d + '/f', '');
             fs.mkdirSync(process.argv[1] + '/p' + (i % 20) + '/new' + i + '/z', { recursive: true });
           }`,
          root,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = new Promise((r) => maker.once('exit', r));
      await new Promise((r) => maker.stdout.once('data', r));
      watcher = new ProjectWatcher(root, subscribe);
      let first;
      try {
        await watcher.start();
        first = await watcher.hintFor(root);
      } finally {
        maker.kill('SIGKILL');
        await exited;
      }
      // The build reads every directory and remembers what it listed.
      if (!first) throw new Error('the watcher gave no hint');
      const dirs = allDirs(root);
      for (const dir of dirs) first.rememberListing(dir, listing(dir));
      first.done();
      // A file lands in every directory; each must be seen as changed.
      for (const dir of dirs) writeFileSync(join(dir, 'late.txt'), '');
      const next = await watcher.hintFor(root);
      const stale = dirs.filter((dir) => {
        const known = next!.listing(dir);
        return known !== undefined && JSON.stringify(known) !== JSON.stringify(listing(dir));
      });
      next!.done();
      expect(stale).toEqual([]);
      expect(dirs.length).toBeGreaterThan(400);
    });
  });

  it('never subscribes again under a name whose subscription the watcher failed to end', async () => {
    const names: string[] = [];
    const failing = (async (dir, fn, opts) => {
      names.push(dir);
      const sub = await subscribe(dir, fn, opts);
      return {
        unsubscribe: async () => {
          await sub.unsubscribe();
          // The first one fails, as when a watched directory was moved and removed.
          if (dir === names[0]) throw new Error('inotify_rm_watch: Invalid argument');
        },
      };
    }) as Subscribe;
    watcher = new ProjectWatcher(root, failing);
    await watcher.start();
    for (let i = 0; i < 4; i++) {
      mkdirSync(join(root, `new${i}`)); // a new directory: a build after its event crawls again
      (await watcher.hintFor(root))!.done();
      (await watcher.hintFor(root))!.done();
    }
    expect(names.length).toBeGreaterThanOrEqual(5);
    expect(names.slice(1)).not.toContain(names[0]);
    for (let i = 1; i < names.length; i++) expect(names[i]).not.toBe(names[i - 1]);
    expect(watcher.status().healthy).toBe(true);
  });
});
