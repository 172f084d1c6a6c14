import { describe, expect, it } from 'vitest';
import { AIRLOCK_VERSION } from '../core/version.js';
import { configCacheKey } from './context.js';

describe('configCacheKey', () => {
  const text = Buffer.from('version: 1\nname: p\n');

  it('changes with Airlock’s own version, not only with the file', () => {
    const now = configCacheKey('/p/airlock.yaml', text);
    expect(configCacheKey('/p/airlock.yaml', text, AIRLOCK_VERSION)).toBe(now);
    expect(configCacheKey('/p/airlock.yaml', text, `${AIRLOCK_VERSION}-next`)).not.toBe(now);
  });

  it('changes with the file’s path and bytes', () => {
    const now = configCacheKey('/p/airlock.yaml', text);
    expect(configCacheKey('/q/airlock.yaml', text)).not.toBe(now);
    expect(configCacheKey('/p/airlock.yaml', Buffer.from('version: 1\nname: q\n'))).not.toBe(now);
  });
});
