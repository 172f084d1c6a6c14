import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
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
});
