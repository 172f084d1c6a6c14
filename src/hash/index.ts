export { hashFile } from './hash-file.js';
export type { FsHint, HintDirent, HintEntry } from './hint.js';
export { changedSince, hashTree } from './inputs.js';
export { RACY_NS, StatCache, fileSig, nowNs } from './stat-cache.js';
export type { FileSig } from './stat-cache.js';
export { assertInsideRoot, globMatcher, walkGlobs } from './walk.js';
export type { WalkErrorCode, WalkResult, WalkedEntry } from './walk.js';
