import { lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { AsyncSubscription, Event } from '@parcel/watcher';
import type { FsHint, HintDirent, HintEntry } from '../hash/hint.js';
import type { WatcherStatus } from './protocol.js';

/**
 * One batch this large may hide a kernel queue overflow: the watcher drops
 * IN_Q_OVERFLOW without telling, so a burst is taken as "anything may have changed".
 */
export const DOUBT_EVENTS = 2000;
/** Wall clock and monotonic clock may drift apart by this much between builds before it counts as a jump. */
const CLOCK_SLACK_MS = 2000;
/** How long a build waits for its cookie to come back through the watcher. */
const COOKIE_TIMEOUT_MS = 2000;
/** Files whose change resets all knowledge: they change what a build reads. */
const CONFIG_FILES = new Set(['airlock.yaml', 'airlock.lock']);
/**
 * Another name for `/`. @parcel/watcher keeps one crawl of a directory per
 * name while any subscription to that name lives, and a new subscription to
 * the same name reuses it instead of listing the tree again; a subscription
 * whose unsubscribe failed (it does when a watched directory was moved and
 * then removed) is never freed. So each subscription watches the project
 * under a name no live or leaked subscription has: `/proc/self/root`
 * repeated 0, 1, 2… times before the project's path.
 */
const ALIAS = '/proc/self/root';
/** Names in use or leaked beyond this many: the watcher cannot crawl afresh, and the daemon should restart. */
const MAX_ALIAS_DEPTH = 16;
/** Airlock's own directory in a project (never walked); the watcher's cookies go there. */
const STATE_DIR = '.airlock';

/**
 * The watcher's state once it has caught up with every change made before
 * it was taken: two equal tokens mean it saw nothing change in the project
 * between them (see `ProjectWatcher.quietBetween`).
 */
export interface QuietToken {
  readonly generation: number;
  readonly changes: number;
}

/** The per-build view of the watcher: a hint, and `done` when the build ends. */
export type BuildHint = FsHint & { done(): void };

/** What a subscription needs: `@parcel/watcher`'s `subscribe`, or a test's stand-in. */
export type Subscribe = (
  dir: string,
  fn: (err: Error | null, events: Event[]) => void,
  opts?: { ignore?: string[] },
) => Promise<AsyncSubscription>;

/**
 * Watches one project directory and remembers, between builds, what its
 * walk read (directory listings) and what hashing learnt (digests and stat
 * signatures), dropping every piece an event touches. Knowledge is only a
 * hint: before each build a cookie file is written and waited for, so every
 * event that happened before the build started has been applied; any doubt
 * (a watch error, a burst that may have overflowed, a clock jump, a config
 * change, a cookie that never came) drops everything, and the build reads
 * the file system in full.
 */
export class ProjectWatcher {
  readonly root: string;
  private readonly prefix: string;
  private sub: AsyncSubscription | undefined;
  private subscriptions = 0;
  /** The id of the subscription in `sub`. */
  private current = 0;
  private healthy = false;
  /**
   * Directories created or moved in since the current subscription began,
   * by the event seq that reported them. The watcher adds a watch to such a
   * directory only, not to the directories inside it (made by `mkdir -p`,
   * or moved in with it), so nothing at or below one is remembered until a
   * new subscription has crawled and watched the whole tree again.
   */
  private readonly fresh = new Map<string, number>();
  /** Directory → name → what hashing learnt. */
  private readonly files = new Map<string, Map<string, HintEntry>>();
  private readonly listings = new Map<string, readonly HintDirent[]>();
  /** Bumped by every event; a build's token is its value when the build's cookie came back. */
  private seq = 0;
  /** Bumped by every reset: a build that started before one remembers nothing after it. */
  private generation = 0;
  /**
   * Bumped by every event but the daemon's own cookies and clock probes, and
   * those inside the project's .git directory: no build reads in there (the
   * walk skips it), and `git status` rewrites its index. Whoever trusts a
   * token checks `.git` itself (see `gitPrefix`).
   */
  private changes = 0;
  /** `<root>/.git/`: what lies below it changes no token. */
  readonly gitPrefix: string;
  /** While builds run: the seq of the last event on a path, and on any child of a directory. */
  private readonly stamps = new Map<string, number>();
  private readonly childStamps = new Map<string, number>();
  private active = 0;
  private cookieCount = 0;
  /** Cookie files waited for, each with the subscription that must report it (any when undefined). */
  private readonly cookies = new Map<string, { from: number | undefined; seen: () => void }>();
  private lastClock: { wall: number; mono: number } | undefined;
  private readonly stats = { events: 0, resets: 0, lastReset: '', crawlSuspects: 0 };
  /** The build-time work of `hintFor` (subscribing, cookies), one caller at a time. */
  private preparing: Promise<unknown> = Promise.resolve();

  constructor(
    root: string,
    private readonly subscribe: Subscribe,
    private readonly log: (message: string) => void = () => {},
  ) {
    this.root = resolve(root);
    this.prefix = `${this.root}/`;
    this.gitPrefix = `${this.root}/.git/`;
  }

  /** Starts watching; a failure leaves the watcher unhealthy (every build a full scan) and is logged. */
  async start(): Promise<void> {
    this.reset('watch started');
    try {
      // Created before watching: a cookie in a directory created later could beat its watch.
      mkdirSync(join(this.root, STATE_DIR), { recursive: true });
      writeFileSync(join(this.root, STATE_DIR, '.gitignore'), '*\n');
    } catch {
      // A read-only project: cookies fail, and every build scans in full.
    }
    this.healthy = await this.resubscribe();
  }

  /**
   * A new subscription (a full crawl that watches every directory), and only
   * then the old one ended: no event falls between them. Fresh directories
   * reported before the new crawl began are watched now. The watcher lists
   * a directory before it watches it, so a directory made in between is
   * never watched and never reported: once the subscription is in place,
   * every directory changed since the crawl began (by its ctime, on the file
   * system's own clock) is taken as fresh, like one the watcher reported.
   */
  private async resubscribe(): Promise<boolean> {
    const since = this.seq;
    // A new crawl may find changes no event reported: no token vouches across one.
    this.changes++;
    const id = ++this.subscriptions;
    const crawlStart = this.fsClock();
    if (crawlStart === undefined) return false;
    const wall = Date.now();
    const mono = performance.now();
    if (this.sub && !this.aliasWorks()) {
      // Under the old subscription's name the watcher would reuse its crawl:
      // end it first, and forget what it vouched for.
      this.reset('the watcher crawls again');
      await this.close();
    }
    const depth = this.freeDepth();
    if (depth === undefined) {
      this.worn = true;
      this.log('every name of the project was used by a subscription the watcher did not free');
      return false;
    }
    const prefix = ALIAS.repeat(depth);
    let sub: AsyncSubscription;
    try {
      const dir = prefix + this.root;
      // A distinct ignore list: never the watcher object of an earlier subscription.
      sub = await this.subscribe(
        dir,
        (err, events) => this.onEvents(err, prefix ? unalias(events, prefix) : events, id),
        { ignore: [join(dir, STATE_DIR, `no-such-${process.pid}-${id}`)] },
      );
    } catch (err) {
      this.leaked.add(depth); // a crawl that failed half-way may be kept under this name
      this.log(`watching ${this.root} failed: ${String(err)}`);
      return false;
    }
    const old = this.sub;
    // Events read before the new subscription existed reach the old one only:
    // its cookie coming back means it has delivered them all.
    if (old && !(await this.cookie(this.current))) {
      await this.end(sub, depth);
      return false;
    }
    this.sub = sub;
    this.current = id;
    const oldDepth = this.depth;
    this.depth = depth;
    if (old) await this.end(old, oldDepth);
    // A clock stepped back during the crawl could date a directory made in it before crawlStart.
    if (Math.abs(Date.now() - wall - (performance.now() - mono)) > CLOCK_SLACK_MS) {
      this.log('the wall clock jumped while the watcher crawled');
      return false;
    }
    for (const [dir, seq] of this.fresh) if (seq <= since) this.fresh.delete(dir);
    const changed = changedSince(this.root, crawlStart);
    if (changed === undefined) return false;
    for (const dir of changed) {
      this.invalidate(dir);
      this.fresh.set(dir, this.seq);
    }
    this.stats.crawlSuspects += changed.length;
    return true;
  }

  /** Alias depths under which an unsubscribe failed: the watcher may keep their crawl forever. */
  private readonly leaked = new Set<number>();
  /** The alias depth of the live subscription (-1: none). */
  private depth = -1;
  /**
   * True once no name is left to subscribe under: every build reads in
   * full, and the daemon should stop so that a fresh process takes over.
   */
  worn = false;

  /** The least alias depth no live or leaked subscription uses, if any. */
  private freeDepth(): number | undefined {
    const most = this.aliasWorks() ? MAX_ALIAS_DEPTH : 0;
    for (let d = 0; d <= most; d++) if (d !== this.depth && !this.leaked.has(d)) return d;
    return undefined;
  }

  /** Ends a subscription; one the watcher fails to end leaves its name unusable. */
  private async end(sub: AsyncSubscription, depth: number): Promise<void> {
    try {
      await sub.unsubscribe();
    } catch (err) {
      this.leaked.add(depth);
      this.log(`ending a subscription failed (its name is not used again): ${String(err)}`);
    }
  }

  private aliased: boolean | undefined;
  /** Whether the project can be reached under ALIAS (no /proc: every subscription after the first starts afresh). */
  private aliasWorks(): boolean {
    try {
      this.aliased ??= lstatSync(ALIAS + this.root).ino === lstatSync(this.root).ino;
    } catch {
      this.aliased = false;
    }
    return this.aliased;
  }

  /** The file system's clock now: the ctime of a file written in the project's state directory. */
  private fsClock(): bigint | undefined {
    const probe = join(this.root, STATE_DIR, `daemon-clock-${process.pid}`);
    try {
      writeFileSync(probe, `${++this.cookieCount}`);
      return lstatSync(probe, { bigint: true }).ctimeNs;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.healthy = false;
    const sub = this.sub;
    this.sub = undefined;
    const depth = this.depth;
    this.depth = -1;
    if (sub) await this.end(sub, depth);
  }

  status(): WatcherStatus {
    let knownFiles = 0;
    for (const m of this.files.values()) knownFiles += m.size;
    return { healthy: this.healthy, ...this.stats, knownFiles, knownDirs: this.listings.size };
  }

  /**
   * The hint for one build of `project`, after the watcher has caught up
   * with every change made before this call; undefined (read everything)
   * when it is another directory or anything is in doubt.
   */
  hintFor(project: string): Promise<BuildHint | undefined> {
    if (resolve(project) !== this.root) return Promise.resolve(undefined);
    const next = this.preparing.then(() => this.prepare());
    this.preparing = next.catch(() => {});
    return next;
  }

  private async prepare(): Promise<BuildHint | undefined> {
    return (await this.catchUp()) ? this.hint() : undefined;
  }

  /**
   * Brings the watcher up to date with every change made before this call:
   * watching again after an error, crawling again when directories may be
   * unwatched, a cookie waited for. False when it cannot vouch for anything.
   */
  private async catchUp(): Promise<boolean> {
    if (!this.healthy) {
      await this.close();
      await this.start(); // knowledge is empty: this build reads everything and teaches it again
      if (!this.healthy) return false;
    } else if (this.fresh.size > 0 && this.active === 0 && !(await this.resubscribe())) {
      this.reset('the watcher could not subscribe again');
      this.healthy = false;
      return false;
    }
    const wall = Date.now();
    const mono = performance.now();
    if (
      this.lastClock &&
      Math.abs(wall - this.lastClock.wall - (mono - this.lastClock.mono)) > CLOCK_SLACK_MS
    )
      this.reset('the wall clock jumped');
    this.lastClock = { wall, mono };
    if (!(await this.cookie())) {
      this.reset('a cookie did not come back through the watcher');
      return false;
    }
    return true;
  }

  /** A cookie or clock probe of this daemon (made, or removed after it was seen). */
  private ownFile(path: string): boolean {
    if (dirname(path) !== this.stateDir) return false;
    const name = basename(path);
    return (
      name === `daemon-clock-${process.pid}` || name.startsWith(`daemon-cookie-${process.pid}-`)
    );
  }

  private get stateDir(): string {
    return join(this.root, STATE_DIR);
  }

  /**
   * A token of the watcher's state once it has caught up with every change
   * made before this call (a cookie came back), or undefined when it cannot
   * vouch for anything: not watching, directories it may not watch yet, a
   * clock jump, a cookie that never came.
   */
  quietToken(): Promise<QuietToken | undefined> {
    const next = this.preparing.then(async (): Promise<QuietToken | undefined> => {
      if (!(await this.catchUp()) || !this.healthy || this.fresh.size > 0) return undefined;
      return { generation: this.generation, changes: this.changes };
    });
    this.preparing = next.catch(() => {});
    return next;
  }

  /** The token of what the watcher has applied so far (it may be behind: no cookie is waited for). */
  peekToken(): QuietToken {
    return { generation: this.generation, changes: this.changes };
  }

  /**
   * True when the watcher saw nothing change in the project between two
   * tokens (`earlier` taken first), with no reset, error or unwatched
   * directory since: what was true of the project's files at `earlier` is
   * true at `later`. Only a hint, as all it knows: it trusts the kernel to
   * report every change to a watched directory.
   */
  quietBetween(earlier: QuietToken, later: QuietToken): boolean {
    return (
      this.healthy &&
      this.fresh.size === 0 &&
      earlier.generation === later.generation &&
      later.generation === this.generation &&
      earlier.changes === later.changes
    );
  }

  /** Drops all knowledge: the next build reads the file system in full. */
  reset(reason: string): void {
    this.files.clear();
    this.listings.clear();
    this.generation++;
    this.stats.resets++;
    this.stats.lastReset = reason;
    if (reason !== 'watch started') this.log(`watcher knowledge dropped: ${reason}`);
  }

  private onEvents(err: Error | null, events: Event[], from: number): void {
    if (err) {
      this.reset(`watch error: ${err.message}`);
      this.healthy = false;
      return;
    }
    this.stats.events += events.length;
    if (events.length >= DOUBT_EVENTS)
      this.reset(`${events.length} events at once (the kernel's queue may have overflowed)`);
    for (const e of events) {
      this.seq++;
      const path = e.path;
      const cookie = this.cookies.get(path);
      if (cookie) {
        // Everything before it in the queue has been applied by the time it runs.
        if (cookie.from === undefined || cookie.from === from) queueMicrotask(cookie.seen);
        continue;
      }
      if (!this.ownFile(path) && !path.startsWith(this.gitPrefix)) this.changes++;
      if (path === this.root || (dirname(path) === this.root && CONFIG_FILES.has(basename(path))))
        this.reset(`${path} changed`);
      this.invalidate(path);
      // 'update' too: a path removed and created again in one batch is reported as updated.
      if (e.type !== 'delete' && isDirectory(path)) this.fresh.set(path, this.seq);
    }
  }

  /** Forgets `path`, everything below it, and its directory's listing. */
  private invalidate(path: string): void {
    const dir = dirname(path);
    this.listings.delete(dir);
    this.files.get(dir)?.delete(basename(path));
    this.listings.delete(path);
    this.files.delete(path);
    const below = `${path}/`;
    for (const k of this.listings.keys()) if (k.startsWith(below)) this.listings.delete(k);
    for (const k of this.files.keys()) if (k.startsWith(below)) this.files.delete(k);
    if (this.active > 0) {
      this.stamps.set(path, this.seq);
      this.childStamps.set(dir, this.seq);
    }
  }

  /** Writes a cookie file and waits until the watcher reports it. */
  private async cookie(from?: number): Promise<boolean> {
    const file = join(this.root, STATE_DIR, `daemon-cookie-${process.pid}-${++this.cookieCount}`);
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<boolean>((resolve) => {
      this.cookies.set(file, { from, seen: () => resolve(true) });
      timer = setTimeout(() => resolve(false), COOKIE_TIMEOUT_MS);
    });
    try {
      writeFileSync(file, '');
    } catch {
      this.cookies.delete(file);
      clearTimeout(timer);
      return false;
    }
    const ok = await seen;
    clearTimeout(timer);
    this.cookies.delete(file);
    rmSync(file, { force: true });
    return ok;
  }

  private inside(path: string): boolean {
    return path === this.root || path.startsWith(this.prefix);
  }

  /**
   * True when `path` must not be remembered: an event touched it or a
   * directory above it since `token`, or it lies in a fresh directory.
   */
  private untrusted(path: string, token: number): boolean {
    const moved = this.seq !== token;
    if (!moved && this.fresh.size === 0) return false;
    for (let p = path; ; p = dirname(p)) {
      if (moved && (this.stamps.get(p) ?? -1) > token) return true;
      if (this.fresh.has(p)) return true;
      if (p === this.root || p === '/') return false;
    }
  }

  private hint(): BuildHint {
    this.active++;
    const token = this.seq;
    const generation = this.generation;
    const current = (): boolean => this.healthy && this.generation === generation;
    let ended = false;
    return {
      listing: (dir) => (current() ? this.listings.get(dir) : undefined),
      rememberListing: (dir, entries) => {
        if (!current() || !this.inside(dir) || this.untrusted(dir, token)) return;
        if (this.seq !== token && (this.childStamps.get(dir) ?? -1) > token) return;
        this.listings.set(dir, entries);
      },
      entry: (abs) => (current() ? this.files.get(dirname(abs))?.get(basename(abs)) : undefined),
      rememberEntry: (abs, entry) => {
        if (!current() || !abs.startsWith(this.prefix) || this.untrusted(abs, token)) return;
        const dir = dirname(abs);
        let m = this.files.get(dir);
        if (!m) {
          m = new Map<string, HintEntry>();
          this.files.set(dir, m);
        }
        m.set(basename(abs), entry);
      },
      done: () => {
        if (ended) return;
        ended = true;
        if (--this.active === 0) {
          this.stamps.clear();
          this.childStamps.clear();
        }
      },
    };
  }
}

/**
 * Every directory below `root` (not `root` itself, nor its state directory)
 * whose ctime is `since` or later: made, moved, or changed since then.
 * Undefined when the tree cannot be read in full.
 */
function changedSince(root: string, since: bigint): string[] | undefined {
  const changed: string[] = [];
  const walk = (dir: string): boolean => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      // Removed since it was listed: nothing in it can be remembered.
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
    for (const e of entries) {
      if (!e.isDirectory() || (dir === root && e.name === STATE_DIR)) continue;
      const path = join(dir, e.name);
      let ctime: bigint;
      try {
        ctime = lstatSync(path, { bigint: true }).ctimeNs;
      } catch {
        continue; // removed: one made again in its place is new to the watcher too
      }
      if (ctime >= since) changed.push(path);
      else if (!walk(path)) return false;
    }
    return true;
  };
  return walk(root) ? changed : undefined;
}

/** The events of a subscription made under `prefix`, with their paths as the project names them. */
function unalias(events: Event[], prefix: string): Event[] {
  return events.map((e) =>
    e.path.startsWith(prefix) ? { type: e.type, path: e.path.slice(prefix.length) } : e,
  );
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}
