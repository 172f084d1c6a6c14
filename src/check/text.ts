/** Maps character offsets to 1-based line and column, built once per file. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  /** The 1-based line and column of `offset` (clamped to the text). */
  at(offset: number): { line: number; column: number } {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: o - this.starts[lo]! + 1 };
  }

  /** The text of 1-based `line` without its newline. */
  lineText(line: number): string {
    const start = this.starts[line - 1];
    if (start === undefined) return '';
    const next = this.starts[line];
    const raw = this.text.slice(start, next === undefined ? undefined : next - 1);
    return raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  }

  /** The offset of 1-based `line` and `column`. */
  offsetOf(line: number, column: number): number {
    return (this.starts[line - 1] ?? this.text.length) + column - 1;
  }

  get lineCount(): number {
    return this.starts.length;
  }
}

/** A JSON value with the offsets of its text, and of its key when it is an object member. */
export type JsonNode =
  | { kind: 'object'; start: number; end: number; members: JsonMember[] }
  | { kind: 'array'; start: number; end: number; items: JsonNode[] }
  | { kind: 'string'; start: number; end: number; value: string }
  | { kind: 'number' | 'boolean' | 'null'; start: number; end: number; value: unknown };

export interface JsonMember {
  key: string;
  keyStart: number;
  value: JsonNode;
}

/** A JSON syntax error with the offset where parsing stopped. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Parses strict JSON (RFC 8259) into a tree that keeps every value's offsets,
 * so rules can point at the exact line and column; throws JsonSyntaxError.
 */
export function parseJsonTree(text: string): JsonNode {
  let i = 0;
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, i);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return JSON.parse(text.slice(start, i)) as string;
      }
      if (c === '\\') i += 2;
      else if (c < ' ') fail('control character in string');
      else i++;
    }
    return fail('unterminated string');
  };
  const value = (): JsonNode => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const members: JsonMember[] = [];
      ws();
      if (text[i] === '}') return { kind: 'object', start, end: ++i, members };
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a property name in double quotes');
        const keyStart = i;
        const key = str();
        ws();
        if (text[i] !== ':') fail("expected ':' after property name");
        i++;
        members.push({ key, keyStart, value: value() });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') return { kind: 'object', start, end: ++i, members };
        fail("expected ',' or '}' after property value");
      }
    }
    if (c === '[') {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === ']') return { kind: 'array', start, end: ++i, items };
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') return { kind: 'array', start, end: ++i, items };
        fail("expected ',' or ']' after array element");
      }
    }
    if (c === '"') return { kind: 'string', start, value: str(), end: i };
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(
      text.slice(i, i + 64),
    );
    if (!m) return fail(i >= text.length ? 'unexpected end of JSON' : 'unexpected character');
    i += m[0].length;
    const raw = m[0];
    if (raw === 'true' || raw === 'false')
      return { kind: 'boolean', start, end: i, value: raw === 'true' };
    if (raw === 'null') return { kind: 'null', start, end: i, value: null };
    return { kind: 'number', start, end: i, value: Number(raw) };
  };
  const root = value();
  ws();
  if (i < text.length) fail('unexpected text after the JSON value');
  return root;
}

/** The member `key` of an object node, if present. */
export function member(node: JsonNode | undefined, key: string): JsonMember | undefined {
  return node?.kind === 'object' ? node.members.find((m) => m.key === key) : undefined;
}

/** The string value of member `key`, if it is a string. */
export function memberString(node: JsonNode | undefined, key: string): string | undefined {
  const v = member(node, key)?.value;
  return v?.kind === 'string' ? v.value : undefined;
}

const IGNORE_RE = /airlock:\s*ignore\s+([A-Za-z0-9_./-]+)(?:\s+--\s*(.*\S))?/;

/** A parsed `airlock: ignore <rule> -- reason` comment. */
export interface IgnoreComment {
  line: number;
  ruleId: string;
  reason: string | undefined;
}

/** Every ignore comment in a text, by line (the comment silences its own line and the next). */
export function findIgnoreComments(index: LineIndex): IgnoreComment[] {
  if (!index.text.includes('airlock:')) return [];
  const out: IgnoreComment[] = [];
  for (let line = 1; line <= index.lineCount; line++) {
    const m = IGNORE_RE.exec(index.lineText(line));
    if (m) out.push({ line, ruleId: m[1]!, reason: m[2]?.trim() });
  }
  return out;
}
