export type { AttestErrorCode } from './errors.js';
export {
  IN_TOTO_PAYLOAD_TYPE,
  PREDICATE,
  PREDICATE_NAME,
  PREDICATE_TYPE_ANNOTATION,
  STATEMENT_TYPE,
  digestSet,
  parseStatement,
  statement,
} from './statement.js';
export type { ResourceDescriptor, Statement, Subject } from './statement.js';
export { achievedHermeticity, debPurl, npmLicense, npmPurl } from './facts.js';
export type { BuildFacts, Hermeticity, LockFact, ToolchainFact } from './facts.js';
export {
  BUILD_TYPE,
  EXTERNAL_PARAMETER_KEYS,
  buildProvenance,
  localBuilderId,
  rfc3339,
} from './provenance.js';
export type { ProvenanceOptions, ProvenancePredicate } from './provenance.js';
export { parseDpkgStatus } from './dpkg.js';
export type { DebPackage } from './dpkg.js';
export { derivedUuid, sbomModel } from './sbom-model.js';
export type { SbomComponent, SbomModel } from './sbom-model.js';
export { cyclonedxJson } from './cyclonedx.js';
export { spdxJson } from './spdx.js';
export { buildReproAttestation } from './repro.js';
export type { ReproFacts, ReproPredicate } from './repro.js';
export { buildTestResultAttestation, parseJunit } from './test-result.js';
export type { TestResultPredicate, TestStepFacts } from './test-result.js';
