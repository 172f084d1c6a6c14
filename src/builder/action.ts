import { digestJson } from '../core/canonical.js';
import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import type { TreeEntry } from '../core/tree.js';

/** Bumped whenever the meaning of an action or its result changes. */
export const ACTION_FORMAT = 'airlock.action/v1';
export const RESULT_FORMAT = 'airlock.result/v1';

/**
 * Everything that can change a target's outputs. Its canonical JSON digest is
 * the action key: same key ⇒ same outputs.
 */
export interface Action {
  format: typeof ACTION_FORMAT;
  toolchain: { name: string; digest: Digest }[];
  inputs: Digest;
  deps: { target: string; path: string; outputs: Digest }[];
  steps: string[];
  env: Record<string, string>;
  outputs: string[];
  sourceDateEpoch: number;
  platform: { os: string; arch: string };
  /** Digest of the canonical JSON of the sandbox profile (src/sandbox SANDBOX_PROFILE). */
  sandbox: Digest;
  /** airlock.lock entries the target uses (absent when none, so older keys are unchanged). */
  locked?: LockedInput[];
}

/** One locked external input in an action: `npm left-pad 1.3.0 sha512-…`. */
export interface LockedInput {
  kind: string;
  name: string;
  version: string;
  digest: string;
}

/** The action key: sha256 of the RFC 8785 canonical JSON of the action. */
export function actionKey(action: Action): Digest {
  return digestJson(action);
}

/** What building an action produced; cached under the action key. */
export interface ActionResult {
  format: typeof RESULT_FORMAT;
  actionKey: Digest;
  exitCode: number;
  outputs: {
    tree: Digest;
    entries: TreeEntry[];
    /** The deterministic .tar.gz of the outputs: one layer blob per target. */
    layer: { digest: Digest; size: number; diffId: Digest };
  };
  logs: { step: number; stdout: Digest; stderr: Digest }[];
  timings: { durationMs: number };
  /** The store blobs this result refers to (layer, logs); the only digests here that fsck and gc follow. */
  blobs: Digest[];
}

/**
 * What the builder remembers of a target's last build so `airlock why` can
 * explain a cache miss: the action and the input tree behind its digest.
 */
export interface BuildRecord {
  format: 'airlock.build-record/v1';
  target: string;
  key: Digest;
  action: Action;
  inputs: TreeEntry[];
  /** Store blobs referred to: the fetched inputs (npm tarballs, `files:`) the action used; input and toolchain digests are not blobs. */
  blobs: Digest[];
}

/** One difference between two actions, as `airlock why` reports it. */
export interface ActionChange {
  component: string;
  detail: string;
  path?: string;
  old?: string;
  new?: string;
}

const entryId = (e: TreeEntry): string =>
  e.kind === 'file' ? `${e.digest}${e.executable ? ' (executable)' : ''}` : `symlink → ${e.target}`;

/**
 * Every component that differs between the previous and the current build
 * of a target, down to each input file with its old and new digest.
 */
export function diffBuilds(prev: BuildRecord, next: BuildRecord): ActionChange[] {
  const changes: ActionChange[] = [];
  const a = prev.action;
  const b = next.action;
  if (a.format !== b.format) {
    changes.push({
      component: 'format',
      detail: 'Airlock action format changed',
      old: a.format,
      new: b.format,
    });
  }
  if (a.inputs !== b.inputs) {
    const before = new Map(prev.inputs.map((e) => [e.path, e]));
    const after = new Map(next.inputs.map((e) => [e.path, e]));
    const paths = [...new Set([...before.keys(), ...after.keys()])].sort(compareBytes);
    for (const path of paths) {
      const x = before.get(path);
      const y = after.get(path);
      if (x && !y)
        changes.push({ component: 'inputs', detail: 'input removed', path, old: entryId(x) });
      else if (!x && y)
        changes.push({ component: 'inputs', detail: 'input added', path, new: entryId(y) });
      else if (x && y && entryId(x) !== entryId(y)) {
        changes.push({
          component: 'inputs',
          detail: 'input changed',
          path,
          old: entryId(x),
          new: entryId(y),
        });
      }
    }
  }
  diffList(
    changes,
    'toolchain',
    a.toolchain.map((t) => `${t.name} ${t.digest}`),
    b.toolchain.map((t) => `${t.name} ${t.digest}`),
  );
  diffList(
    changes,
    'deps',
    a.deps.map((d) => `${d.target} → ${d.path}: ${d.outputs}`),
    b.deps.map((d) => `${d.target} → ${d.path}: ${d.outputs}`),
  );
  diffList(changes, 'steps', a.steps, b.steps);
  diffList(
    changes,
    'env',
    Object.entries(a.env).map(([k, v]) => `${k}=${v}`),
    Object.entries(b.env).map(([k, v]) => `${k}=${v}`),
  );
  diffList(changes, 'outputs', a.outputs, b.outputs);
  diffLocked(changes, a.locked ?? [], b.locked ?? []);
  if (a.sourceDateEpoch !== b.sourceDateEpoch) {
    changes.push({
      component: 'sourceDateEpoch',
      detail: 'SOURCE_DATE_EPOCH changed',
      old: String(a.sourceDateEpoch),
      new: String(b.sourceDateEpoch),
    });
  }
  if (digestJson(a.platform) !== digestJson(b.platform)) {
    changes.push({
      component: 'platform',
      detail: 'platform changed',
      old: `${a.platform.os}/${a.platform.arch}`,
      new: `${b.platform.os}/${b.platform.arch}`,
    });
  }
  if (a.sandbox !== b.sandbox) {
    changes.push({
      component: 'sandbox',
      detail: 'sandbox profile changed (a different Airlock version)',
      old: a.sandbox,
      new: b.sandbox,
    });
  }
  return changes;
}

/** Locked inputs by name: a bump is one change with the old and new version and hash. */
function diffLocked(changes: ActionChange[], before: LockedInput[], after: LockedInput[]): void {
  const id = (l: LockedInput): string => `${l.kind} ${l.name}`;
  const show = (l: LockedInput): string => `${l.version} ${l.digest}`;
  const old = new Map(before.map((l) => [`${id(l)}\0${show(l)}`, l]));
  const now = new Map(after.map((l) => [`${id(l)}\0${show(l)}`, l]));
  const gone = before.filter((l) => !now.has(`${id(l)}\0${show(l)}`));
  const added = after.filter((l) => !old.has(`${id(l)}\0${show(l)}`));
  for (const l of added) {
    const prior = gone.findIndex((g) => id(g) === id(l));
    if (prior >= 0) {
      const [g] = gone.splice(prior, 1);
      changes.push({
        component: 'locked',
        detail: `${id(l)} changed from ${g!.version} to ${l.version}`,
        path: l.name,
        old: show(g!),
        new: show(l),
      });
    } else
      changes.push({ component: 'locked', detail: `${id(l)} added`, path: l.name, new: show(l) });
  }
  for (const g of gone)
    changes.push({ component: 'locked', detail: `${id(g)} removed`, path: g.name, old: show(g) });
}

function diffList(
  changes: ActionChange[],
  component: string,
  before: string[],
  after: string[],
): void {
  const removed = before.filter((x) => !after.includes(x));
  const added = after.filter((x) => !before.includes(x));
  for (const x of removed)
    changes.push({ component, detail: `${component} entry removed`, old: x });
  for (const x of added) changes.push({ component, detail: `${component} entry added`, new: x });
  if (removed.length === 0 && added.length === 0 && before.join('\0') !== after.join('\0')) {
    changes.push({
      component,
      detail: `${component} reordered`,
      old: before.join(' ; '),
      new: after.join(' ; '),
    });
  }
}
