/**
 * Orders strings by their UTF-8 bytes, never by locale: the one comparator for
 * anything whose order ends up in a digest or an output.
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return utf8Rank(x) - utf8Rank(y);
  }
  return a.length - b.length;
}

/**
 * Why this works without encoding: UTF-8 byte order is code point order, and
 * UTF-16 code units agree with it except that surrogates (code points above
 * U+FFFF) must sort after U+E000–U+FFFF. Moving the surrogate block to the top
 * of the range restores the byte order, with no allocation per comparison.
 */
function utf8Rank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** Sorts a copy of `items` by the UTF-8 bytes of `key(item)`. */
export function sortByBytes<T>(items: Iterable<T>, key: (item: T) => string): T[] {
  const keyed = [...items].map((item) => ({ item, k: Buffer.from(key(item), 'utf8') }));
  keyed.sort((x, y) => Buffer.compare(x.k, y.k));
  return keyed.map((x) => x.item);
}
