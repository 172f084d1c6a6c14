export { archiveError } from './errors.js';
export type { ArchiveErrorCode } from './errors.js';
export { packTarGz } from './pack.js';
export type { PackEntry, PackOptions, PackResult } from './pack.js';
export {
  DEFAULT_EXTRACT_LIMITS,
  extractTarGz,
  readTarFile,
  readTarGz,
  rebaseLinkTarget,
} from './extract.js';
export type { ExtractLimits, ExtractOptions, ReadEntry, ReadOptions } from './extract.js';
export { membersOf, readMembers } from './tar-reader.js';
export type { TarMember, TarMemberBytes } from './tar-reader.js';
export { TYPE as TAR_TYPE } from './tar-header.js';
