export type { PolicyErrorCode } from './errors.js';
export { POLICY_VERSION } from './model.js';
export type { Policy, PolicyIdentity } from './model.js';
export { STATEMENT_NAMES, parseDuration, parsePolicy } from './parse.js';
export type { PolicyProblem } from './parse.js';
export { evaluatePolicy } from './evaluate.js';
export type { FailedAttachment, RuleResult, Verdict, VerifiedStatement } from './evaluate.js';
