export { hashFile } from './hash-file.js';
export { hashTree } from './inputs.js';
export { RACY_NS, StatCache, fileSig, nowNs } from './stat-cache.js';
export type { FileSig } from './stat-cache.js';
export { globMatcher, walkGlobs } from './walk.js';
export type { WalkedEntry } from './walk.js';
