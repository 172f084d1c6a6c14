import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { subscribe } from '@parcel/watcher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonRunner } from '../src/cli/daemon-run.js';
import { runViaDaemon } from '../src/daemon/client.js';
import { serveDaemon, type RunningDaemon } from '../src/daemon/server.js';
import { ProjectWatcher } from '../src/daemon/watch.js';
import { socketPath } from '../src/daemon/paths.js';
import { CLI, runCli } from './helpers/cli.js';

/*
 * The build daemon's watcher knowledge against the truth: a seeded random
 * walk of edits, reverts, touches, renames, deletes, creates, mode changes,
 * symlinks and same-size edits with the mtime put back, made right before
 * each build, and every build through the daemon compared with an
 * in-process `--no-daemon` build of the same tree (same store: its keys come from its own walk and lstat of every input).
 */

const CONFIG = `version: 1
name: fuzz
sourceDateEpoch: 1700000000
targets:
  ta:
    sources: ["a/**", "tool.sh"]
    steps: ["sh tool.sh a out/ta"]
    outputs: ["out/ta/**"]
  tb:
    sources: ["b/**", "tool.sh"]
    steps: ["sh tool.sh b out/tb"]
    outputs: ["out/tb/**"]
  tc:
    sources: ["c/*.txt", "tool.sh"]
    deps: [ta]
    steps: ["sh tool.sh c out/tc"]
    outputs: ["out/tc/**"]
`;

// Lists a directory tree (sorted by bytes): each entry's type, mode, size and
// link target, then the bytes of every file in the same order. A shell script,
// not node: a step that starts in milliseconds, so the edits cost the time.
const TOOL = `set -eu
mkdir -p "$2"
{
  find "$1" ! -type d -printf '%p %y %M %s %l\\n' | LC_ALL=C sort
  find "$1" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cat
} > "$2/all.txt"
`;

/** mulberry32: a small seeded generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Report {
  targets: { name: string; actionKey: string; outputTree: string; cached: boolean }[];
}

let work: string;
let project: string;
let env: Record<string, string>;
let daemon: RunningDaemon;
let watcher: ProjectWatcher;
let hintHits = 0;
/** Daemon builds answered from the stamp, and of those, with the watcher vouching for the project. */
let stampAnswers = 0;
let vouchedAnswers = 0;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'airlock-daemon-fuzz-'));
  project = join(work, 'p');
  mkdirSync(join(project, 'a', 'sub'), { recursive: true });
  mkdirSync(join(project, 'b'), { recursive: true });
  mkdirSync(join(project, 'c', 'deeper'), { recursive: true });
  writeFileSync(join(project, 'airlock.yaml'), CONFIG);
  writeFileSync(join(project, 'tool.sh'), TOOL);
  // One file per target that the edits never touch: no glob ever matches nothing.
  for (const d of ['a', 'b', 'c']) writeFileSync(join(project, d, 'keep.txt'), `keep ${d}\n`);
  const runtime = join(work, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  env = {
    ...(process.env as Record<string, string>),
    XDG_RUNTIME_DIR: runtime,
    AIRLOCK_DAEMON: '1',
    NO_COLOR: '1',
  };
  delete env['CI'];
  watcher = new ProjectWatcher(project, subscribe);
  await watcher.start();
  daemon = await serveDaemon({
    socket: socketPath(join(work, 'store-daemon'), project, env),
    store: join(work, 'store-daemon'),
    project,
    idleStopMs: 600_000,
    build: (await import('../src/daemon/client.js')).buildId(),
    env,
    watcher,
    // The daemon's own runner: no-ops answered from the stamp as the watcher vouches, the rest built.
    run: daemonRunner(watcher, {
      // Counts the inputs the watcher vouched for, to show the hint was really used.
      wrapHint: (hint) => ({
        ...hint,
        entry: (abs: string) => {
          const e = hint.entry(abs);
          if (e) hintHits++;
          return e;
        },
      }),
    }),
  });
});

afterAll(async () => {
  await daemon?.close();
  rmSync(work, { recursive: true, force: true });
});

async function daemonBuild(): Promise<{
  status: number;
  report: Report;
  stderr: string;
  stdout: string;
}> {
  let stdout = '';
  let stderr = '';
  const status = await runViaDaemon(
    ['node', CLI, '--store', join(work, 'store-daemon'), '--json', 'build', '-C', project],
    {
      cwd: project,
      // The trace says how the daemon answered: from the stamp, or by building.
      env: { ...env, AIRLOCK_DAEMON_TRACE: '1' },
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
    },
    { spawnDaemon: false },
  );
  if (status === undefined) throw new Error(`the daemon did not serve the build: ${stderr}`);
  if (stderr.includes('audit recorded')) {
    stampAnswers++;
    if (stderr.includes('stamp checked outside the project')) vouchedAnswers++;
  }
  return { status, report: JSON.parse(stdout) as Report, stderr, stdout };
}

async function referenceBuild(): Promise<{
  status: number;
  report: Report;
  stderr: string;
  stdout: string;
}> {
  const r = await runCli(
    ['--store', join(work, 'store-daemon'), '--json', 'build', '-C', project, '--no-daemon'],
    { cwd: project },
  );
  return {
    status: r.status,
    report: JSON.parse(r.stdout) as Report,
    stderr: r.stderr,
    stdout: r.stdout,
  };
}

const keysOf = (r: Report): Record<string, [string, string]> =>
  Object.fromEntries(r.targets.map((t) => [t.name, [t.actionKey, t.outputTree]]));

/** Every regular file and symlink the edits may touch (never keep.txt, tool.sh or the config). */
function editable(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const d of readdirSync(join(project, rel), { withFileTypes: true })) {
      const p = `${rel}/${d.name}`;
      if (d.isDirectory()) walk(p);
      else if (d.name !== 'keep.txt') out.push(p);
    }
  };
  for (const d of ['a', 'b', 'c']) walk(d);
  return out.sort();
}

function dirsUnder(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    out.push(rel);
    for (const d of readdirSync(join(project, rel), { withFileTypes: true }))
      if (d.isDirectory()) walk(`${rel}/${d.name}`);
  };
  for (const d of ['a', 'b', 'c']) walk(d);
  return out;
}

/** Applies one random edit; returns what it did, for the failure message. */
function edit(next: () => number, history: Map<string, string[]>, n: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const files = editable().filter((p) => !lstatSync(join(project, p)).isSymbolicLink());
  const content = (): string => `v${n} ${'x'.repeat(Math.floor(next() * 40))}\n`;
  const op = files.length < 6 ? 'create' : pick(OPS);
  const abs = (p: string): string => join(project, p);
  const remember = (p: string): void => {
    const h = history.get(p) ?? [];
    h.push(readFileSync(abs(p), 'utf8'));
    history.set(p, h);
  };
  switch (op) {
    case 'create': {
      const p = `${pick(dirsUnder())}/f${n}.txt`;
      writeFileSync(abs(p), content());
      return `create ${p}`;
    }
    case 'edit': {
      const p = pick(files);
      remember(p);
      writeFileSync(abs(p), content());
      return `edit ${p}`;
    }
    case 'same-tick': {
      // Same size, other bytes, the old mtime put back: only ctime and the watcher can tell.
      const p = pick(files);
      remember(p);
      const st = statSync(abs(p));
      const old = readFileSync(abs(p));
      const flipped = Buffer.from(old);
      if (flipped.length === 0) flipped.write('z');
      else flipped[0] = flipped[0] === 0x41 ? 0x42 : 0x41;
      writeFileSync(abs(p), flipped.subarray(0, Math.max(old.length, 1)));
      utimesSync(abs(p), st.atime, st.mtime);
      return `same-tick ${p}`;
    }
    case 'revert': {
      const p = pick(files);
      const h = history.get(p);
      if (!h || h.length === 0) return `revert ${p} (no history)`;
      writeFileSync(abs(p), h.pop()!);
      return `revert ${p}`;
    }
    case 'touch': {
      const p = pick(files);
      const t = new Date(Date.now() + Math.floor(next() * 5000));
      utimesSync(abs(p), t, t);
      return `touch ${p}`;
    }
    case 'chmod': {
      const p = pick(files);
      const x = (statSync(abs(p)).mode & 0o111) !== 0;
      chmodSync(abs(p), x ? 0o644 : 0o755);
      return `chmod ${p}`;
    }
    case 'rename': {
      const p = pick(files);
      const to = `${pick(dirsUnder())}/r${n}.txt`;
      renameSync(abs(p), abs(to));
      return `rename ${p} ${to}`;
    }
    case 'delete': {
      const p = pick(editable());
      unlinkSync(abs(p));
      return `delete ${p}`;
    }
    case 'symlink': {
      const p = `${pick(dirsUnder())}/l${n}`;
      symlinkSync(`target-${Math.floor(next() * 3)}`, abs(p));
      return `symlink ${p}`;
    }
    case 'mkdir': {
      const d = `${pick(dirsUnder())}/d${n}`;
      mkdirSync(abs(d));
      writeFileSync(abs(`${d}/in.txt`), content());
      return `mkdir ${d}`;
    }
    case 'rename-dir': {
      const ds = dirsUnder().filter((d) => d.split('/').length > 1);
      if (ds.length === 0) return 'rename-dir (none)';
      const d = pick(ds);
      const to = `${pick(['a', 'b', 'c'])}/m${n}`;
      renameSync(abs(d), abs(to));
      return `rename-dir ${d} ${to}`;
    }
    default: {
      const ds = dirsUnder().filter((d) => d.split('/').length > 1);
      if (ds.length === 0) return 'rmdir (none)';
      const d = pick(ds);
      rmSync(abs(d), { recursive: true });
      return `rmdir ${d}`;
    }
  }
}

const OPS = [
  'edit',
  'edit',
  'same-tick',
  'same-tick',
  'revert',
  'touch',
  'chmod',
  'rename',
  'delete',
  'create',
  'create',
  'symlink',
  'mkdir',
  'rename-dir',
  'rmdir',
] as const;

describe('airlock build through the daemon', () => {
  it('gives the action keys and outputs of a --no-daemon build after every batch of 1,000+ random edits', async () => {
    const seed = Number(process.env['AIRLOCK_FUZZ_SEED'] ?? Date.now() % 1_000_000);
    const next = rng(seed);
    const history = new Map<string, string[]>();
    for (let i = 0; i < 8; i++) writeFileSync(join(project, 'a', `f${i}.txt`), `start ${i}\n`);
    writeFileSync(join(project, 'c', 'deeper', 'not-a-source.txt'), 'deeper\n');
    let edits = 0;
    let round = 0;
    const log: string[] = [];
    while (edits < 1000) {
      round++;
      // Some rounds change nothing (a no-op served from the watcher's knowledge).
      const batch = round % 6 === 0 ? 0 : 40 + Math.floor(next() * 60);
      for (let i = 0; i < batch; i++) log.push(edit(next, history, ++edits));
      const viaDaemon = await daemonBuild();
      // Every third round, twice more with nothing changed: answered from the stamp,
      // checked in full, then with the watcher vouching for the project.
      const repeats = round % 3 === 0 ? [await daemonBuild(), await daemonBuild()] : [];
      const reference = await referenceBuild();
      const context = `seed ${seed} (AIRLOCK_FUZZ_SEED=${seed} replays it), round ${round}\n--- daemon\n${viaDaemon.stdout}${viaDaemon.stderr}\n--- reference\n${reference.stdout}${reference.stderr}\n--- last edits:\n${log.slice(-batch).join('\n')}`;
      expect(viaDaemon.status, context).toBe(0);
      expect(reference.status, context).toBe(0);
      expect(keysOf(viaDaemon.report), context).toEqual(keysOf(reference.report));
      for (const again of repeats) {
        expect(again.status, context).toBe(0);
        expect(keysOf(again.report), context).toEqual(keysOf(reference.report));
      }
    }
    expect(edits).toBeGreaterThanOrEqual(1000);
    // The watcher vouched for most inputs most of the time: the comparison tested the hint.
    expect(hintHits).toBeGreaterThan(round * 5);
    // Some no-ops were answered from the stamp, some with the watcher vouching: both were compared.
    expect(stampAnswers).toBeGreaterThan(0);
    expect(vouchedAnswers).toBeGreaterThan(0);
    expect(watcher.status().healthy).toBe(true);
    expect(existsSync(join(project, '.airlock', '.gitignore'))).toBe(true);
    expect(dirname(project)).toBe(work);
  }, 600_000);
});
