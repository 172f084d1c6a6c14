import { digestHex, type Digest } from '../core/digest.js';
import { BUILD_TYPE, EXTERNAL_PARAMETER_KEYS, PREDICATE, type Statement } from '../attest/index.js';
import type { Policy } from './model.js';

/*
 * Policy evaluation, pure: the pipeline verifies every bundle attached to an
 * artifact (cryptography through @sigstore/verify) and hands over what
 * verified and what did not; this decides. Any attachment that failed to
 * verify fails the policy: nothing attached is silently ignored.
 */

/** A statement whose bundle verified against a policy key. */
export interface VerifiedStatement {
  /** The attachment (OCI manifest) digest it came from. */
  source: string;
  keyId: string;
  statement: Statement<Record<string, unknown>>;
}

/** An attachment that could not be verified, with its typed error code. */
export interface FailedAttachment {
  source: string;
  code: string;
  reason: string;
}

export interface RuleResult {
  rule: string;
  pass: boolean;
  reason: string;
}

export interface Verdict {
  /** The manifest digest that was verified (a tag moved afterwards does not change it). */
  digest: Digest;
  pass: boolean;
  rules: RuleResult[];
}

const rec = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** `pkg:npm/evil@*` → an anchored regex where `*` matches anything. */
function globRegex(pattern: string): RegExp {
  const body = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${body}$`);
}

const globs = new Map<string, RegExp>();

/** `globRegex(pattern)`, compiled once per pattern (a policy is evaluated many times). */
function globCached(pattern: string): RegExp {
  let re = globs.get(pattern);
  if (!re) {
    re = globRegex(pattern);
    if (globs.size < 1024) globs.set(pattern, re);
  }
  return re;
}

/** The purls and license ids a CycloneDX or SPDX predicate lists. */
function sbomEntries(s: Statement<Record<string, unknown>>): {
  purls: string[];
  licenses: string[];
} {
  const purls: string[] = [];
  const licenses: string[] = [];
  const addLicense = (expr: unknown): void => {
    if (typeof expr !== 'string') return;
    for (const id of expr.split(/[\s()]+/)) {
      if (id && !['AND', 'OR', 'WITH', 'NOASSERTION', 'NONE'].includes(id)) licenses.push(id);
    }
  };
  const p = s.predicate;
  if (s.predicateType === PREDICATE.cyclonedx) {
    const walk = (components: unknown): void => {
      for (const c of arr(components).map(rec)) {
        if (typeof c.purl === 'string') purls.push(c.purl);
        for (const l of arr(c.licenses).map(rec)) {
          addLicense(l.expression);
          addLicense(rec(l.license).id);
        }
        walk(c.components);
      }
    };
    walk(p.components);
    walk([rec(p.metadata).component]);
  } else if (s.predicateType === PREDICATE.spdx) {
    for (const pkg of arr(p.packages).map(rec)) {
      for (const r of arr(pkg.externalRefs).map(rec))
        if (r.referenceType === 'purl' && typeof r.referenceLocator === 'string')
          purls.push(r.referenceLocator);
      addLicense(pkg.licenseDeclared);
      addLicense(pkg.licenseConcluded);
    }
  }
  return { purls, licenses };
}

/** The hermeticity level a provenance statement records; undefined when it records none. */
function provenanceLevel(s: Statement<Record<string, unknown>>): number | undefined {
  for (const b of arr(rec(rec(s.predicate).runDetails).byproducts).map(rec)) {
    if (b.name !== 'hermeticity') continue;
    const level = rec(b.annotations).level;
    if (typeof level === 'number' && Number.isInteger(level)) return level;
  }
  return undefined;
}

/**
 * Evaluates `policy` over the verified statements of the artifact `digest`
 * at time `now` (ms). Every rule is reported with its reason; the verdict
 * passes only when every rule passes.
 */
export function evaluatePolicy(
  policy: Policy,
  digest: Digest,
  verified: readonly VerifiedStatement[],
  failed: readonly FailedAttachment[],
  now: number,
): Verdict {
  const rules: RuleResult[] = [];
  const rule = (name: string, pass: boolean, reason: string): void => {
    rules.push({ rule: name, pass, reason });
  };
  const hex = digestHex(digest);

  // Every attachment verifies, or the artifact fails: fail closed.
  for (const f of failed) rule(`attachment ${f.source}`, false, `${f.code}: ${f.reason}`);
  rule(
    'signature',
    verified.length > 0,
    verified.length > 0
      ? `${verified.length} statement${verified.length === 1 ? '' : 's'} signed by trusted keys (${[...new Set(verified.map((v) => v.keyId))].join(', ')})`
      : 'no statement attached to this artifact is signed by a key the policy trusts',
  );

  // Every subject of every statement is this artifact.
  for (const v of verified) {
    const bad = v.statement.subject.filter(
      (s) => s.digest.sha256 !== hex || Object.keys(s.digest).length !== 1,
    );
    rule(
      `subject ${v.source}`,
      bad.length === 0,
      bad.length === 0
        ? `every subject is ${digest}`
        : `subject ${bad.map((s) => `${s.name} ${JSON.stringify(s.digest)}`).join(', ')} is not ${digest}`,
    );
  }

  const ofType = (t: string): VerifiedStatement[] =>
    verified.filter((v) => v.statement.predicateType === t);
  for (const t of policy.require) {
    const n = ofType(t).length;
    rule(
      `require ${t}`,
      n > 0,
      n > 0 ? `present (${n})` : `no verified statement of predicate type ${t}`,
    );
  }

  const provenance = ofType(PREDICATE.slsaProvenance);
  for (const v of provenance) {
    const def = rec(rec(v.statement.predicate).buildDefinition);
    const ext = rec(def.externalParameters);
    const unknown = Object.keys(ext).filter(
      (k) => !(EXTERNAL_PARAMETER_KEYS as readonly string[]).includes(k),
    );
    rule(
      `buildType ${v.source}`,
      def.buildType === BUILD_TYPE,
      def.buildType === BUILD_TYPE
        ? `${BUILD_TYPE}`
        : `build type ${JSON.stringify(def.buildType)} is not ${BUILD_TYPE}`,
    );
    rule(
      `externalParameters ${v.source}`,
      unknown.length === 0,
      unknown.length === 0
        ? 'only known parameters'
        : `unknown external parameters: ${unknown.join(', ')}`,
    );
    if (policy.builder !== undefined) {
      const id = rec(rec(rec(v.statement.predicate).runDetails).builder).id;
      rule(
        `builder ${v.source}`,
        id === policy.builder,
        id === policy.builder
          ? `builder is ${policy.builder}`
          : `builder ${JSON.stringify(id)} is not ${policy.builder}`,
      );
    }
    if (policy.source?.repository !== undefined) {
      const ok = ext.repository === policy.source.repository;
      rule(
        `source.repository ${v.source}`,
        ok,
        ok
          ? `repository is ${policy.source.repository}`
          : `repository ${JSON.stringify(ext.repository)} is not ${policy.source.repository}`,
      );
    }
    if (policy.source?.ref !== undefined) {
      const ok = ext.ref === policy.source.ref;
      rule(
        `source.ref ${v.source}`,
        ok,
        ok
          ? `ref is ${policy.source.ref}`
          : `ref ${JSON.stringify(ext.ref)} is not ${policy.source.ref}`,
      );
    }
    if (policy.maxAgeMs !== undefined) {
      const finished = rec(rec(rec(v.statement.predicate).runDetails).metadata).finishedOn;
      const t = typeof finished === 'string' ? Date.parse(finished) : NaN;
      const ok = Number.isFinite(t) && now - t <= policy.maxAgeMs && t <= now + 300_000;
      rule(
        `maxAge ${v.source}`,
        ok,
        Number.isFinite(t)
          ? `built ${Math.round((now - t) / 1000)} s ago; the limit is ${policy.maxAgeMs / 1000} s`
          : 'the provenance has no finishedOn time',
      );
    }
  }
  const needsProvenance =
    policy.builder !== undefined ||
    policy.source !== undefined ||
    policy.maxAgeMs !== undefined ||
    policy.minLevel !== undefined;
  if (needsProvenance && provenance.length === 0)
    rule(
      'provenance',
      false,
      'the policy constrains the build but no verified SLSA provenance is attached',
    );

  // A required test-result attestation must also say the tests passed.
  if (policy.require.includes(PREDICATE.testResult)) {
    const results = ofType(PREDICATE.testResult).map((v) => v.statement.predicate.result);
    const failing = results.filter((r) => r !== 'PASSED' && r !== 'WARNED');
    if (results.length > 0)
      rule(
        'tests',
        failing.length === 0,
        failing.length === 0
          ? `every test-result attestation says ${[...new Set(results)].join(' or ')}`
          : `a test-result attestation says ${failing.map((r) => JSON.stringify(r)).join(', ')}`,
      );
  }

  const repro = ofType(PREDICATE.reproducibility);
  const reproducible =
    repro.length > 0 && repro.every((v) => v.statement.predicate.result === 'REPRODUCIBLE');
  if (policy.reproducible) {
    rule(
      'reproducible',
      reproducible,
      reproducible
        ? 'a reproducibility attestation says REPRODUCIBLE'
        : repro.length === 0
          ? 'no verified reproducibility attestation'
          : 'a reproducibility attestation says the builds differ',
    );
  }

  if (policy.minLevel !== undefined && provenance.length > 0) {
    const levels = provenance.map((v) => provenanceLevel(v.statement));
    const built = levels.some((l) => l === undefined) ? 0 : Math.min(...(levels as number[]));
    const sbom = ofType(PREDICATE.cyclonedx).length + ofType(PREDICATE.spdx).length > 0;
    const level = built >= 4 && reproducible && sbom ? 5 : Math.min(built, 4);
    rule(
      'minLevel',
      level >= policy.minLevel,
      `the evidence shows level ${level}${built >= 4 && level < 5 ? ' (level 5 also needs a REPRODUCIBLE attestation and an SBOM)' : ''}; the policy asks for ${policy.minLevel}`,
    );
  }

  if (policy.deny.purls.length > 0 || policy.deny.licenses.length > 0) {
    const sboms = [...ofType(PREDICATE.cyclonedx), ...ofType(PREDICATE.spdx)];
    const hits: string[] = [];
    const patterns = policy.deny.purls.map((p) => [p, globCached(p)] as const);
    for (const v of sboms) {
      const { purls, licenses } = sbomEntries(v.statement);
      for (const purl of purls)
        for (const [p, re] of patterns) if (re.test(purl)) hits.push(`${purl} (denied by ${p})`);
      for (const l of licenses) if (policy.deny.licenses.includes(l)) hits.push(`license ${l}`);
    }
    const unique = [...new Set(hits)];
    rule(
      'deny',
      sboms.length > 0 && unique.length === 0,
      sboms.length === 0
        ? 'the policy has a deny-list but no verified SBOM is attached'
        : unique.length === 0
          ? 'no denied package or license in the SBOM'
          : `denied: ${unique.join(', ')}`,
    );
  }

  return { digest, pass: rules.every((r) => r.pass), rules };
}
