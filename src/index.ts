export { AirlockError, isAirlockError, parseDigest, sha256, treeDigest } from './core/index.js';
export type { AirlockEvent, Digest, EventSink, TreeEntry } from './core/index.js';
