import { isPair, isScalar, LineCounter, parseAllDocuments, parseDocument, visit } from 'yaml';
import type { Digest } from '../core/digest.js';
import { dockerfileImages } from './dockerfile.js';
import { hasDigest, isUnjudgeableImage } from './image.js';
import { classifySpec, DEPENDENCY_SECTIONS, type LockedPackage } from './npm.js';
import { LineIndex, member, parseJsonTree, type JsonMember, type JsonNode } from './text.js';
import type { FileKind } from './types.js';

/** One mutable reference found in a file, with the offsets of its text. */
export interface PinSite {
  ref: string;
  start: number;
  end: number;
}

/** One rewrite `pin` made. */
export interface PinChange {
  line: number;
  from: string;
  to: string;
}

/** Image references without a digest in a Dockerfile or YAML file, with their offsets. */
export function imageSites(kind: FileKind, text: string): PinSite[] {
  const out: PinSite[] = [];
  if (kind === 'dockerfile') {
    const index = new LineIndex(text);
    for (const img of dockerfileImages(text)) {
      if (hasDigest(img.ref) || isUnjudgeableImage(img.ref)) continue;
      const start = index.offsetOf(img.line, img.column);
      out.push({ ref: img.ref, start, end: start + img.ref.length });
    }
    return out;
  }
  if (!['manifest', 'github-workflow', 'gitlab-ci', 'airlock-yaml'].includes(kind)) return out;
  const docs = parseAllDocuments(text, { lineCounter: new LineCounter() });
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) return [];
    visit(doc, {
      Pair(_k, pair) {
        if (!isPair(pair) || !isScalar(pair.key) || !isScalar(pair.value)) return;
        const key = String(pair.key.value);
        const v = pair.value.value;
        // airlock.yaml names a runnable image's base as `image: { base: <ref> }`.
        const imageKey =
          key === 'image' || key === 'container' || (kind === 'airlock-yaml' && key === 'base');
        if (!imageKey || typeof v !== 'string' || !pair.value.range) return;
        if (hasDigest(v) || isUnjudgeableImage(v)) return;
        const [s, e] = pair.value.range;
        const at = text.slice(s, e).indexOf(v);
        if (at >= 0) out.push({ ref: v, start: s + at, end: s + at + v.length });
      },
    });
  }
  return out;
}

/** Applies non-overlapping edits (offsets into `text`) from last to first, so earlier offsets stay valid. */
function applyEdits(text: string, edits: { start: number; end: number; text: string }[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start))
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/**
 * Rewrites image references to `ref@digest` where `digests` knows the digest,
 * touching only those characters so formatting and comments survive.
 */
export function pinImages(
  kind: FileKind,
  text: string,
  digests: ReadonlyMap<string, Digest>,
): { text: string; changes: PinChange[] } {
  const index = new LineIndex(text);
  const edits: { start: number; end: number; text: string }[] = [];
  const changes: PinChange[] = [];
  for (const site of imageSites(kind, text)) {
    const d = digests.get(site.ref);
    if (!d) continue;
    const to = `${site.ref}@${d}`;
    edits.push({ start: site.start, end: site.end, text: to });
    changes.push({ line: index.at(site.start).line, from: site.ref, to });
  }
  return { text: applyEdits(text, edits), changes };
}

/** Rewrites package.json version ranges to the exact versions the lockfile resolved (offline), keeping formatting. */
export function pinPackageJson(
  text: string,
  locked: ReadonlyMap<string, LockedPackage>,
): { text: string; changes: PinChange[] } {
  const root = parseJsonTree(text);
  const index = new LineIndex(text);
  const edits: { start: number; end: number; text: string }[] = [];
  const changes: PinChange[] = [];
  for (const { value, version } of pinnable(root, locked)) {
    edits.push({ start: value.start, end: value.end, text: JSON.stringify(version) });
    changes.push({ line: index.at(value.start).line, from: value.value, to: version });
  }
  return { text: applyEdits(text, edits), changes };
}

/** One pinned dependency: where it was declared and the exact version it now names. */
export interface PinnedDep {
  section: (typeof DEPENDENCY_SECTIONS)[number];
  name: string;
  version: string;
}

/** The dependencies `pinPackageJson` changes, for updating the lockfile's own copy of the specifiers. */
export function pinnedDeps(text: string, locked: ReadonlyMap<string, LockedPackage>): PinnedDep[] {
  return pinnable(parseJsonTree(text), locked).map(({ section, dep, version }) => ({
    section,
    name: dep.key,
    version,
  }));
}

/** Every dependency declared with a version range that the lockfile resolved, with the exact version. */
function pinnable(
  root: JsonNode,
  locked: ReadonlyMap<string, LockedPackage>,
): {
  section: (typeof DEPENDENCY_SECTIONS)[number];
  dep: JsonMember;
  value: Extract<JsonNode, { kind: 'string' }>;
  version: string;
}[] {
  const out = [];
  for (const section of DEPENDENCY_SECTIONS) {
    const sec = member(root, section)?.value;
    if (sec?.kind !== 'object') continue;
    for (const dep of sec.members) {
      const value = dep.value;
      if (value.kind !== 'string' || classifySpec(value.value) !== 'range') continue;
      if (value.value.startsWith('npm:')) continue;
      const version = locked.get(dep.key)?.version;
      if (version) out.push({ section, dep, value, version });
    }
  }
  return out;
}

/**
 * Updates package-lock.json's copy of the root (or workspace `dir`)
 * specifiers (`packages[""].dependencies`) so the lock and the pinned
 * package.json agree; lockfileVersion 1 keeps no such copy. Keeps formatting.
 */
export function pinPackageLockRoot(
  text: string,
  dir: string,
  pins: readonly PinnedDep[],
): { text: string; changes: PinChange[] } {
  const root = parseJsonTree(text);
  const entry = member(member(root, 'packages')?.value, dir === '.' ? '' : dir)?.value;
  const edits: LockEdit[] = [];
  for (const p of pins) {
    const spec = member(member(entry, p.section)?.value, p.name)?.value;
    if (spec?.kind === 'string' && spec.value !== p.version)
      edits.push({
        start: spec.start,
        end: spec.end,
        text: JSON.stringify(p.version),
        from: spec.value,
        to: p.version,
      });
  }
  return withChanges(text, edits);
}

interface LockEdit {
  start: number;
  end: number;
  text: string;
  from: string;
  to: string;
}

function withChanges(text: string, edits: LockEdit[]): { text: string; changes: PinChange[] } {
  const index = new LineIndex(text);
  return {
    text: applyEdits(text, edits),
    changes: edits.map((e) => ({ line: index.at(e.start).line, from: e.from, to: e.to })),
  };
}

/**
 * Updates pnpm-lock.yaml's importer specifiers (`importers[dir].<section>.<name>.specifier`
 * in lockfile 6+, `specifiers.<name>` in 5.x) so `pnpm install --frozen-lockfile`
 * still accepts the pinned package.json. Keeps formatting.
 */
export function pinPnpmLockImporter(
  text: string,
  dir: string,
  pins: readonly PinnedDep[],
): { text: string; changes: PinChange[] } {
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length > 0) return { text, changes: [] };
  const importer: (string | number)[] = doc.has('importers') ? ['importers', dir] : [];
  const edits: LockEdit[] = [];
  for (const p of pins) {
    const node =
      doc.getIn([...importer, p.section, p.name, 'specifier'], true) ??
      doc.getIn([...importer, 'specifiers', p.name], true);
    if (!isScalar(node) || !node.range || String(node.value) === p.version) continue;
    edits.push({
      start: node.range[0],
      end: node.range[1],
      text: p.version,
      from: String(node.value),
      to: p.version,
    });
  }
  return withChanges(text, edits);
}
