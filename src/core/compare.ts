/**
 * Orders strings by their UTF-8 bytes, never by locale: the one comparator for
 * anything whose order ends up in a digest or an output.
 */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorts a copy of `items` by the UTF-8 bytes of `key(item)`. */
export function sortByBytes<T>(items: Iterable<T>, key: (item: T) => string): T[] {
  const keyed = [...items].map((item) => ({ item, k: Buffer.from(key(item), 'utf8') }));
  keyed.sort((x, y) => Buffer.compare(x.k, y.k));
  return keyed.map((x) => x.item);
}
