import { compareBytes } from '../core/compare.js';
import {
  PREDICATE,
  digestSet,
  statement,
  type ResourceDescriptor,
  type Statement,
} from './statement.js';
import { achievedHermeticity, npmPurl, type BuildFacts, type Hermeticity } from './facts.js';

/*
 * SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance) for one target's
 * artifact. The build type's parameters are documented in
 * docs/buildtypes/target-v1.md; a change of their meaning is a new version.
 */

export const BUILD_TYPE = 'https://airlock.dev/buildtypes/target/v1';

/** The only keys of externalParameters: what the user controls. A verifier rejects any other. */
export const EXTERNAL_PARAMETER_KEYS = [
  'commit',
  'configDigest',
  'ref',
  'repository',
  'target',
] as const;

export interface ProvenancePredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, string>;
    internalParameters: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version?: Record<string, string> };
    metadata: { invocationId: string; startedOn: string; finishedOn: string };
    byproducts: ResourceDescriptor[];
  };
}

export interface ProvenanceOptions {
  /** runDetails.builder.id; the default names a local Airlock builder on `host`. */
  builderId?: string;
  host: string;
  invocationId: string;
  /** Milliseconds since the epoch, from the injected clock. */
  startedOn: number;
  finishedOn: number;
  /** The level the build achieved (default: what the facts allow). */
  hermeticity?: Hermeticity;
}

/** The default builder id: a local Airlock on this host. */
export function localBuilderId(host: string): string {
  return `https://airlock.dev/builders/local@${encodeURIComponent(host)}`;
}

/** RFC 3339 UTC with second precision, from milliseconds. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `sha512-<base64>` (SRI) → `{sha512: hex}`; undefined when it is not one. */
export function sriDigest(integrity: string): Record<string, string> | undefined {
  const m = /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})$/.exec(integrity.split(/\s+/)[0] ?? '');
  if (!m) return undefined;
  return { [m[1]!]: Buffer.from(m[2]!, 'base64').toString('hex') };
}

const byName = (a: ResourceDescriptor, b: ResourceDescriptor): number =>
  compareBytes(a.name ?? a.uri ?? '', b.name ?? b.uri ?? '');

/** The resolved dependencies of a build: source commit, lock entries, toolchain, inputs, dependency targets. */
export function resolvedDependencies(facts: BuildFacts): ResourceDescriptor[] {
  const out: ResourceDescriptor[] = [];
  if (facts.source?.commit) {
    out.push({
      name: 'source',
      uri: `git+${facts.source.uri}${facts.source.ref ? `@${facts.source.ref}` : ''}`,
      digest: { gitCommit: facts.source.commit },
    });
  }
  out.push({ name: 'inputs', digest: digestSet(facts.inputTree) });
  for (const t of facts.toolchain) {
    out.push({
      name: `toolchain/${t.name}`,
      ...(t.kind === 'image'
        ? { uri: `oci://${t.name}` }
        : t.path
          ? { uri: `file://${t.path}` }
          : {}),
      digest: digestSet(t.digest),
    });
  }
  for (const d of facts.deps) {
    out.push({
      name: `target/${d.target}`,
      uri: `airlock:${facts.project}/${d.target}`,
      digest: digestSet(d.artifact ?? d.outputs),
    });
  }
  if (facts.npmTree)
    out.push({
      name: `npm-install/${facts.npmTree.path}`,
      digest: digestSet(facts.npmTree.digest),
    });
  for (const l of facts.lock ?? []) {
    const digest =
      (l.integrity ? sriDigest(l.integrity) : undefined) ??
      (l.digest ? digestSet(l.digest) : undefined);
    out.push({
      name: `lock/${l.kind}/${l.name}${l.version ? `@${l.version}` : ''}`,
      ...(l.kind === 'npm' && l.version
        ? { uri: npmPurl(l.name, l.version) }
        : l.url
          ? { uri: l.url }
          : {}),
      ...(digest ? { digest } : {}),
    });
  }
  return out.sort(byName);
}

/** The SLSA provenance v1 statement for the artifact of `facts`. */
export function buildProvenance(
  facts: BuildFacts,
  opts: ProvenanceOptions,
): Statement<ProvenancePredicate> {
  const external: Record<string, string> = {
    target: facts.target,
    configDigest: facts.configDigest,
  };
  if (facts.source) {
    external.repository = facts.source.uri;
    if (facts.source.commit) external.commit = facts.source.commit;
    if (facts.source.ref) external.ref = facts.source.ref;
  }
  const level = opts.hermeticity ?? achievedHermeticity(facts);
  const byproducts: ResourceDescriptor[] = [
    { name: 'action-key', digest: digestSet(facts.actionKey) },
    { name: 'hermeticity', annotations: { level: level.level, reasons: level.reasons } },
  ];
  for (const l of [...facts.logs].sort((a, b) => a.step - b.step)) {
    byproducts.push(
      { name: `log/step-${l.step}/stdout`, mediaType: 'text/plain', digest: digestSet(l.stdout) },
      { name: `log/step-${l.step}/stderr`, mediaType: 'text/plain', digest: digestSet(l.stderr) },
    );
  }
  return statement(facts.artifact, PREDICATE.slsaProvenance, {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: external,
      internalParameters: {
        airlockVersion: facts.airlockVersion,
        sandboxProfile: facts.sandboxProfile,
        platform: `${facts.platform.os}/${facts.platform.arch}`,
        sourceDateEpoch: facts.sourceDateEpoch,
      },
      resolvedDependencies: resolvedDependencies(facts),
    },
    runDetails: {
      builder: {
        id: opts.builderId ?? localBuilderId(opts.host),
        version: { airlock: facts.airlockVersion },
      },
      metadata: {
        invocationId: opts.invocationId,
        startedOn: rfc3339(opts.startedOn),
        finishedOn: rfc3339(opts.finishedOn),
      },
      byproducts,
    },
  });
}
