import type { Digest } from '../core/digest.js';
import { PREDICATE, digestSet, statement, type Statement } from './statement.js';

/*
 * The reproducibility attestation `airlock repro` writes about an artifact:
 *
 *   predicateType https://airlock.dev/attestation/reproducibility/v1
 *   predicate {"result":"REPRODUCIBLE"|"DIFFERENT",
 *              "builds":[{"outputTree":{"sha256":…},"layer":{"sha256":…}}, …two],
 *              "variations":["clock shifted by 10 days", …],
 *              "differences":["bin/app: content differs", …]}
 */

export interface ReproPredicate {
  result: 'REPRODUCIBLE' | 'DIFFERENT';
  builds: { outputTree: Record<string, string>; layer: Record<string, string> }[];
  variations: string[];
  differences: string[];
}

export interface ReproFacts {
  artifact: { name: string; digest: Digest };
  a: { outputTree: Digest; layer: Digest };
  b: { outputTree: Digest; layer: Digest };
  variations: string[];
  differences: string[];
}

/** The reproducibility statement: reproducible only when both builds' digests are equal. */
export function buildReproAttestation(facts: ReproFacts): Statement<ReproPredicate> {
  const same =
    facts.a.outputTree === facts.b.outputTree &&
    facts.a.layer === facts.b.layer &&
    facts.differences.length === 0;
  return statement(facts.artifact, PREDICATE.reproducibility, {
    result: same ? 'REPRODUCIBLE' : 'DIFFERENT',
    builds: [facts.a, facts.b].map((x) => ({
      outputTree: digestSet(x.outputTree),
      layer: digestSet(x.layer),
    })),
    variations: [...facts.variations],
    differences: [...facts.differences],
  });
}
