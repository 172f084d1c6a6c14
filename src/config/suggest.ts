import { compareBytes } from '../core/compare.js';

/**
 * Optimal-string-alignment distance: insertions, deletions, substitutions and
 * swaps of two adjacent characters each cost 1 (`sourcs` → `sources` is 1).
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate closest to `word` (ignoring case) when it is close enough to
 * be a likely typo, else undefined; ties go to the byte-wise smallest name.
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    if (name === word) continue;
    const distance = editDistance(lower, name.toLowerCase());
    const limit = Math.max(1, Math.floor(Math.max(word.length, name.length) * 0.4));
    if (distance > limit) continue;
    if (
      best === undefined ||
      distance < best.distance ||
      (distance === best.distance && compareBytes(name, best.name) < 0)
    ) {
      best = { name, distance };
    }
  }
  return best?.name;
}

/** `; did you mean "x"?` or '' when nothing is close. */
export function didYouMeanText(word: string, candidates: Iterable<string>): string {
  const hit = didYouMean(word, candidates);
  return hit === undefined ? '' : `; did you mean "${hit}"?`;
}
