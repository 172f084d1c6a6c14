/**
 * A unified diff (`diff -u` style, 3 lines of context) from `before` to
 * `after`; empty when they are equal. Line-based LCS, fine for config files.
 */
export function unifiedDiff(path: string, before: string, after: string): string {
  if (before === after) return '';
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] =
        a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: { op: ' ' | '-' | '+'; text: string; ai: number; bi: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ op: ' ', text: a[i]!, ai: i++, bi: j++ });
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!))
      ops.push({ op: '-', text: a[i]!, ai: i++, bi: j });
    else ops.push({ op: '+', text: b[j]!, ai: i, bi: j++ });
  }
  const out = [`--- a/${path}`, `+++ b/${path}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]!.op === ' ') {
      k++;
      continue;
    }
    const start = Math.max(0, k - 3);
    let end = k;
    let lastChange = k;
    while (end < ops.length && (ops[end]!.op !== ' ' || end - lastChange <= 6)) {
      if (ops[end]!.op !== ' ') lastChange = end;
      end++;
    }
    end = Math.min(ops.length, lastChange + 4);
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((o) => o.op !== '+').length;
    const bCount = hunk.filter((o) => o.op !== '-').length;
    out.push(
      `@@ -${hunk[0]!.ai + (aCount ? 1 : 0)},${aCount} +${hunk[0]!.bi + (bCount ? 1 : 0)},${bCount} @@`,
    );
    for (const o of hunk) out.push(`${o.op}${o.text}`);
    k = end;
  }
  return `${out.join('\n')}\n`;
}
