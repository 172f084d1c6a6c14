import { compareBytes } from '../core/compare.js';
import type { TreeEntry } from '../core/tree.js';

/** One path whose entry differs between two builds of the same action. */
export interface TreeDifference {
  path: string;
  a?: string;
  b?: string;
}

const id = (e: TreeEntry | undefined): string | undefined =>
  e === undefined
    ? undefined
    : e.kind === 'file'
      ? `${e.digest}${e.executable ? ' (executable)' : ''}`
      : `symlink → ${e.target}`;

/** Every path present in only one tree, or with different content, mode or link target. */
export function diffTrees(a: readonly TreeEntry[], b: readonly TreeEntry[]): TreeDifference[] {
  const left = new Map(a.map((e) => [e.path, e]));
  const right = new Map(b.map((e) => [e.path, e]));
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort(compareBytes);
  const out: TreeDifference[] = [];
  for (const path of paths) {
    const x = id(left.get(path));
    const y = id(right.get(path));
    if (x !== y) out.push({ path, ...(x ? { a: x } : {}), ...(y ? { b: y } : {}) });
  }
  return out;
}

const isText = (buf: Buffer): boolean =>
  !buf.includes(0) && Buffer.from(buf.toString('utf8'), 'utf8').equals(buf);

/**
 * A readable difference of two file contents: a line diff (lines only in one
 * side, with their line numbers) for text, a hex window around the first
 * differing byte otherwise. Bounded to `maxLines` lines.
 */
export function describeDifference(a: Buffer, b: Buffer, maxLines = 40): string {
  if (isText(a) && isText(b)) {
    const la = a.toString('utf8').split('\n');
    const lb = b.toString('utf8').split('\n');
    const lines = lineDiff(la, lb);
    return (
      lines.length > maxLines
        ? [...lines.slice(0, maxLines), `… ${lines.length - maxLines} more lines`]
        : lines
    ).join('\n');
  }
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const start = Math.max(0, i - (i % 16) - 16);
  const rows: string[] = [
    `binary files differ: first difference at byte ${i} (sizes ${a.length} and ${b.length})`,
  ];
  for (const [label, buf] of [
    ['-', a],
    ['+', b],
  ] as const) {
    for (let off = start; off < Math.min(buf.length, start + 64); off += 16) {
      const chunk = buf.subarray(off, off + 16);
      const hex = [...chunk].map((x) => x.toString(16).padStart(2, '0')).join(' ');
      const ascii = [...chunk]
        .map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.'))
        .join('');
      rows.push(`${label} ${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
    }
  }
  return rows.join('\n');
}

/** A minimal line diff via the longest common subsequence (inputs are small: repro shows at most a few files). */
function lineDiff(a: string[], b: string[]): string[] {
  const n = a.length;
  const m = b.length;
  if (n * m > 4_000_000) {
    const out: string[] = [];
    for (let i = 0; i < Math.max(n, m); i++) {
      if (a[i] !== b[i]) {
        if (a[i] !== undefined) out.push(`-${i + 1}: ${a[i]}`);
        if (b[i] !== undefined) out.push(`+${i + 1}: ${b[i]}`);
      }
    }
    return out;
  }
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] =
        a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      i++;
      j++;
    } else if (j >= m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`-${i + 1}: ${a[i]}`);
      i++;
    } else {
      out.push(`+${j + 1}: ${b[j]}`);
      j++;
    }
  }
  return out;
}
