import { describe, expect, it } from 'vitest';
import { failureExcerpt, formatExcerpt } from './step-log.js';

describe('failureExcerpt', () => {
  it('shows an early compiler error that usage text after it would push out of the tail', () => {
    const out = [
      'src/main.ts(3,7): error TS2322: Type "string" is not assignable to type "number".',
      ...Array.from({ length: 40 }, (_, i) => `  --flag${i}   usage text line ${i}`),
    ].join('\n');
    const e = failureExcerpt(out);
    expect(e.first).toEqual([{ line: 1, text: expect.stringContaining('error TS2322') }]);
    expect(e.tail).toHaveLength(15);
    const text = formatExcerpt(e);
    expect(text).toContain('--- first error lines (of 41) ---');
    expect(text).toContain('    1| src/main.ts(3,7): error TS2322');
    expect(text).toContain('--- last 15 lines ---');
    expect(text.split('\n').at(-1)).toBe('  --flag39   usage text line 39');
  });

  it('finds a failing test in the middle of a run and ignores "0 errors" summaries', () => {
    const out = [
      'ok 1 - parses',
      'build: 0 errors',
      'not ok 2 - renders: AssertionError: expected 3 to equal 4',
      ...Array.from({ length: 30 }, (_, i) => `ok ${i + 3} - case ${i}`),
    ].join('\n');
    expect(failureExcerpt(out).first.map((f) => f.line)).toEqual([3]);
  });

  it('shows the whole output, with no separate error section, when it is short', () => {
    const e = failureExcerpt('make: *** [Makefile:2: all] Error 1\n');
    expect(e.first).toEqual([]);
    expect(formatExcerpt(e)).toBe('--- its output ---\nmake: *** [Makefile:2: all] Error 1');
    expect(formatExcerpt(failureExcerpt(''))).toBe('');
  });
});
