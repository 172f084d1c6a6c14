/** The one `version:` of policy files this Airlock reads. */
export const POLICY_VERSION = 1;

/** A keyless identity: the OIDC issuer and the certificate subject, exact or an anchored pattern. */
export interface PolicyIdentity {
  issuer: string;
  subject?: string;
  subjectPattern?: string;
}

/**
 * What `airlock verify` demands of an artifact (policy.yaml, version 1):
 *
 *   version: 1
 *   keys: [keys/release.pub]            # trusted public keys, relative to the policy file
 *   require: [slsa-provenance, cyclonedx, spdx, reproducibility]   # or predicate type URIs
 *   builder: https://airlock.dev/builders/local@ci-1
 *   source: { repository: https://example.com/app.git, ref: refs/heads/main }
 *   minLevel: 4
 *   reproducible: true
 *   deny: { purls: ["pkg:npm/event-stream@*"], licenses: [GPL-3.0-only] }
 *   maxAge: 30d
 */
export interface Policy {
  file: string;
  /** Public key files, as written (relative to the policy file). */
  keys: string[];
  identities: PolicyIdentity[];
  /** Predicate type URIs every artifact must carry a verified statement of. */
  require: string[];
  builder?: string;
  source?: { repository?: string; ref?: string };
  minLevel?: number;
  reproducible: boolean;
  deny: { purls: string[]; licenses: string[] };
  /** Milliseconds. */
  maxAgeMs?: number;
}
