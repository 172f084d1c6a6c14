import { compareBytes } from '../core/compare.js';
import type { Digest } from '../core/digest.js';
import {
  PREDICATE,
  digestSet,
  statement,
  type ResourceDescriptor,
  type Statement,
} from './statement.js';

/*
 * in-toto test-result v0.1
 * (https://github.com/in-toto/attestation/blob/main/spec/predicates/test-result.md)
 * for the steps a config marks as tests: the exit status of each, and the
 * test cases of a JUnit XML report when a step writes one.
 */

export interface TestResultPredicate {
  result: 'PASSED' | 'WARNED' | 'FAILED';
  configuration: ResourceDescriptor[];
  passedTests: string[];
  warnedTests: string[];
  failedTests: string[];
}

export interface TestStepFacts {
  /** A name for the step (`step-2: npm test`). */
  name: string;
  exitCode: number;
  /** The JUnit XML the step wrote, if any. */
  junit?: string;
}

/** The test cases of a JUnit XML report: `classname.name`, and whether each failed or was skipped. */
export function parseJunit(
  xml: string,
): { name: string; outcome: 'passed' | 'failed' | 'skipped' }[] {
  const out: { name: string; outcome: 'passed' | 'failed' | 'skipped' }[] = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const attrs = m[1] ?? '';
    const attr = (k: string): string | undefined =>
      new RegExp(`\\b${k}\\s*=\\s*"([^"]*)"`).exec(attrs)?.[1];
    const name = [attr('classname'), attr('name')].filter(Boolean).join('.');
    const body = m[3] ?? '';
    const outcome = /<(failure|error)\b/.test(body)
      ? 'failed'
      : /<skipped\b/.test(body)
        ? 'skipped'
        : 'passed';
    out.push({ name: unescapeXml(name), outcome });
  }
  return out;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The test-result statement over the artifact: FAILED when any step or case failed. */
export function buildTestResultAttestation(
  artifact: { name: string; digest: Digest },
  configDigest: Digest,
  steps: readonly TestStepFacts[],
): Statement<TestResultPredicate> {
  const passed: string[] = [];
  const warned: string[] = [];
  const failed: string[] = [];
  for (const s of steps) {
    (s.exitCode === 0 ? passed : failed).push(s.name);
    for (const c of s.junit ? parseJunit(s.junit) : []) {
      const name = `${s.name}: ${c.name}`;
      if (c.outcome === 'failed') failed.push(name);
      else if (c.outcome === 'skipped') warned.push(name);
      else passed.push(name);
    }
  }
  return statement(artifact, PREDICATE.testResult, {
    result: failed.length > 0 ? 'FAILED' : warned.length > 0 ? 'WARNED' : 'PASSED',
    configuration: [{ name: 'airlock.yaml', digest: digestSet(configDigest) }],
    passedTests: passed.sort(compareBytes),
    warnedTests: warned.sort(compareBytes),
    failedTests: failed.sort(compareBytes),
  });
}
