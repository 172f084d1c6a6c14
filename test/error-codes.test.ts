import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// Reads the sources: the error codes are a contract (the CLI's --json output,
// the library's AirlockErrorCode), so their declarations are checked as text.
const SRC = join(import.meta.dirname, '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

const files = sources(SRC).map((path) => ({
  path: relative(SRC, path),
  text: readFileSync(path, 'utf8'),
}));

/** Every `export type XxxErrorCode = 'A' | 'B' | OtherErrorCode;` union: name, file, text and string members. */
const unions = files.flatMap(({ path, text }) =>
  [...text.matchAll(/export type (\w+ErrorCode)\s*=([^;]*);/g)].map((m) => ({
    name: m[1]!,
    path,
    body: m[2]!,
    codes: [...m[2]!.replaceAll(/\/\*\*[^]*?\*\//g, '').matchAll(/'([A-Z_]+)'/g)].map((c) => c[1]!),
  })),
);

/** Codes passed as the first argument of an error constructor or helper. */
const thrown = files.flatMap(({ path, text }) =>
  [
    ...text.matchAll(
      /(?:new AirlockError|[a-z]+Error|this\.fail)(?:<[^>(]*>)?\(\s*'([A-Z][A-Z_]+)'/g,
    ),
  ].map((m) => ({ code: m[1]!, path })),
);

describe('error codes', () => {
  it('declares each code in exactly one module union', () => {
    const where = new Map<string, string[]>();
    for (const u of unions)
      for (const c of u.codes) where.set(c, [...(where.get(c) ?? []), `${u.path}:${u.name}`]);
    const twice = [...where].filter(([, at]) => at.length > 1);
    expect(twice).toEqual([]);
    expect(where.size).toBeGreaterThan(40);
  });

  it('throws only declared codes', () => {
    const declared = new Set(unions.flatMap((u) => u.codes));
    expect(thrown.length).toBeGreaterThan(30);
    expect(thrown.filter((t) => !declared.has(t.code))).toEqual([]);
  });

  it('never throws the CLI-only USAGE code from library code', () => {
    expect(thrown.filter((t) => t.code === 'USAGE' && !t.path.startsWith('cli/'))).toEqual([]);
  });

  it('gathers every code the library declares in the exported AirlockErrorCode', () => {
    const byName = new Map(unions.map((u) => [u.name, u]));
    const members = (name: string, seen = new Set<string>()): string[] => {
      const u = byName.get(name);
      if (u === undefined || seen.has(name)) return [];
      seen.add(name);
      const refs = [...u.body.matchAll(/\b(\w+ErrorCode)\b/g)].map((m) => m[1]!);
      return [...u.codes, ...refs.flatMap((r) => members(r, seen))];
    };
    const exported = new Set(members('AirlockErrorCode'));
    const library = unions.filter((u) => !u.path.startsWith('cli/')).flatMap((u) => u.codes);
    expect(library.filter((c) => !exported.has(c))).toEqual([]);
    expect(exported.has('USAGE')).toBe(false);
  });
});
