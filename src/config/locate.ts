import { isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Document, LineCounter, Node } from 'yaml';

export type PathSegment = string | number;

/** Where a problem points: the key of a mapping entry or its value. */
export type Anchor = 'key' | 'value';

/** Renders a path as `targets.web.steps[0]`, quoting keys that are not plain names. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The text of a scalar mapping key, or undefined for a complex or missing key. */
export function keyName(key: unknown): string | undefined {
  if (!isScalar(key)) return undefined;
  const v = key.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null) return '';
  return undefined;
}

/** Maps paths of the parsed document back to 1-based line/column positions. */
export class Locator {
  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly text: string,
  ) {}

  /** The source text of the scalar at `path` as written (`08080`, not 8080), if there is one. */
  scalarSource(path: readonly PathSegment[]): string | undefined {
    let node: unknown = this.doc.contents;
    for (const seg of path) {
      const next = this.child(this.deref(node), seg);
      if (next === undefined) return undefined;
      node = next.value;
    }
    node = this.deref(node);
    if (!isScalar(node) || node.range === undefined || node.range === null) return undefined;
    return this.text.slice(node.range[0], node.range[1]);
  }

  /** The 1-based position of a byte offset in the source. */
  position(offset: number): { line: number; column: number } {
    const { line, col } = this.lines.linePos(offset);
    return { line: Math.max(1, line), column: Math.max(1, col) };
  }

  /**
   * The position of `path`'s key or value; when the path goes missing part
   * way (a required key is absent) it is the deepest entry that exists.
   */
  locate(path: readonly PathSegment[], anchor: Anchor = 'value'): { line: number; column: number } {
    let node: unknown = this.doc.contents;
    let keyNode: unknown;
    for (const seg of path) {
      const current = this.deref(node);
      const next = this.child(current, seg);
      if (next === undefined) {
        // Missing: point at the entry that should hold it.
        return this.nodePosition(keyNode ?? current);
      }
      keyNode = next.key;
      node = next.value;
    }
    if (anchor === 'key' && keyNode !== undefined) return this.nodePosition(keyNode);
    const valuePos = this.rangeStart(node);
    if (valuePos !== undefined) return this.position(valuePos);
    return this.nodePosition(keyNode ?? this.doc.contents);
  }

  private deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  /** The entry `seg` of a mapping (last one wins, as in the parsed value) or of a sequence. */
  private child(node: unknown, seg: PathSegment): { key: unknown; value: unknown } | undefined {
    if (isMap(node)) {
      let found: { key: unknown; value: unknown } | undefined;
      for (const pair of node.items) {
        if (isPair(pair) && keyName(pair.key) === String(seg)) {
          found = { key: pair.key, value: pair.value };
        }
      }
      return found;
    }
    if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      return item === undefined ? undefined : { key: undefined, value: item };
    }
    return undefined;
  }

  private rangeStart(node: unknown): number | undefined {
    if (node === null || typeof node !== 'object') return undefined;
    const range = (node as Partial<Node>).range;
    if (range === undefined || range === null) return undefined;
    // An empty value (`steps:`) has a zero-length range after the key; point at the key instead.
    if (isScalar(node) && node.value === null && range[0] === range[1]) return undefined;
    return range[0];
  }

  private nodePosition(node: unknown): { line: number; column: number } {
    const start = this.rangeStart(node);
    return start === undefined ? { line: 1, column: 1 } : this.position(start);
  }
}
