/** Lines that look like the reason a step failed, in the words compilers, test runners and package managers use. */
const ERROR_LINE_RE =
  /\b\w*error\b|^not ok\b|\bERR!|\bfatal\b|\bfailed\b|\bfailure\b|\bexception\b|\bpanic:|^Traceback\b|undefined reference|no such file|not found|cannot find|command not found|permission denied|\bE\d{3,}\b|✗|×/i;
/** Summary lines that mention errors without being one ("0 errors", "failed: 0"). */
const HARMLESS_RE = /\b0 (?:errors?|failed|failures?)\b|\b(?:errors?|failed|failures?):? 0\b/i;

/** The part of a failed step's output shown in the error: the first error-looking lines and the tail. */
export interface FailureExcerpt {
  /** The first lines that look like an error (with their 1-based line numbers), when they are not already in the tail. */
  first: { line: number; text: string }[];
  /** The last lines of the output. */
  tail: string[];
  /** How many lines the output has. */
  lines: number;
}

/**
 * Picks what to show of a failed step's output: a tool's real error often
 * comes early (tsc, a compiler, npm ERR!) and is followed by usage text or a
 * test summary, so the tail alone can miss it. Pure.
 */
export function failureExcerpt(output: string, maxFirst = 8, maxTail = 15): FailureExcerpt {
  const all = output.replace(/\r\n/g, '\n').trimEnd().split('\n');
  const lines = output.trim() === '' ? [] : all;
  const tailStart = Math.max(0, lines.length - maxTail);
  const first: { line: number; text: string }[] = [];
  for (let i = 0; i < tailStart && first.length < maxFirst; i++) {
    const text = lines[i]!;
    if (ERROR_LINE_RE.test(text) && !HARMLESS_RE.test(text)) first.push({ line: i + 1, text });
  }
  return { first, tail: lines.slice(tailStart), lines: lines.length };
}

/** The excerpt as text for an error message: `--- first error lines ---` then `--- last N lines ---`. */
export function formatExcerpt(e: FailureExcerpt): string {
  if (e.lines === 0) return '';
  const out: string[] = [];
  if (e.first.length > 0) {
    out.push(`--- first error lines (of ${e.lines}) ---`);
    for (const f of e.first) out.push(`${String(f.line).padStart(5)}| ${f.text}`);
  }
  out.push(
    e.tail.length === e.lines ? '--- its output ---' : `--- last ${e.tail.length} lines ---`,
  );
  out.push(...e.tail);
  return out.join('\n');
}
