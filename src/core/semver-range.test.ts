import { describe, expect, it } from 'vitest';
import { satisfiesRange } from './semver-range.js';

describe('satisfiesRange', () => {
  it.each([
    ['20.19.0', '>=20.19', true],
    ['20.18.3', '>=20.19', false],
    ['20.20.2', '^18 || ^20', true],
    ['22.1.0', '^18 || ^20', false],
    ['18.2.0', '18.x', true],
    ['19.0.0', '18.x', false],
    ['20.0.0', '16 - 20', true],
    ['21.0.0', '16 - 20', false],
    ['20.5.1', '~20.5.0', true],
    ['20.6.0', '~20.5.0', false],
    ['20.0.0', '>=18 <21', true],
    ['21.0.0', '>=18 <21', false],
    ['v20.20.2', '*', true],
    ['20.0.0', '>= 22', false],
    ['0.2.5', '^0.2.3', true],
    ['0.3.0', '^0.2.3', false],
  ])('%s against %s is %s', (v, range, want) => {
    expect(satisfiesRange(v, range)).toBe(want);
  });

  it('says it cannot read a range it does not understand', () => {
    expect(satisfiesRange('20.0.0', 'lts/iron')).toBeUndefined();
  });
});
