/**
 * Airlock's own version (package.json "version"; core/core.test.ts checks
 * they agree). Part of every derived-cache key whose meaning could change
 * between releases, such as the parsed-config cache.
 */
export const AIRLOCK_VERSION = '0.1.0';
