import { compareBytes } from '../core/compare.js';
import { sha256, digestHex, type Digest } from '../core/digest.js';
import { debPurl, npmPurl, type BuildFacts } from './facts.js';

/*
 * One component list behind both SBOM formats, so CycloneDX and SPDX name the
 * same things. Everything is sorted by its ref with the byte comparator and
 * every time comes from SOURCE_DATE_EPOCH: the same facts give the same bytes.
 */

export type SbomComponentKind = 'artifact' | 'file' | 'tool' | 'image' | 'target' | 'npm' | 'deb';

export interface SbomComponent {
  /** Unique within the document; stable across runs (`file:src/a.ts`, `npm:left-pad@1.3.0`). */
  ref: string;
  kind: SbomComponentKind;
  name: string;
  version?: string;
  purl?: string;
  /** Algorithm (`sha256`, `sha512`) → lowercase hex. */
  hashes: Record<string, string>;
  license?: string;
  /** Refs of the components this one depends on. */
  dependsOn: string[];
}

export interface SbomModel {
  /** The artifact digest the document is about; its ids derive from it. */
  artifact: { name: string; digest: Digest };
  /** Seconds since the epoch (SOURCE_DATE_EPOCH). */
  created: number;
  tool: { name: string; version: string };
  root: SbomComponent;
  components: SbomComponent[];
}

/** The purl of an OCI artifact by digest. */
export function ociPurl(name: string, digest: Digest): string {
  const last = name.split('/').pop() ?? name;
  return `pkg:oci/${encodeURIComponent(last.toLowerCase())}@${encodeURIComponent(digest)}`;
}

function sriHashes(integrity: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (integrity ?? '').split(/\s+/)) {
    const m = /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})$/.exec(part);
    if (m) out[m[1]!] = Buffer.from(m[2]!, 'base64').toString('hex');
  }
  return out;
}

/** The SBOM component list of a build: its artifact, sources, toolchain, dependency targets and lock. */
export function sbomModel(facts: BuildFacts, tool: { name: string; version: string }): SbomModel {
  const components: SbomComponent[] = [];
  const npmRefs = new Map<string, string>();
  for (const l of facts.lock ?? []) {
    if (l.kind === 'npm' && l.version)
      npmRefs.set(`${l.name}@${l.version}`, `npm:${l.name}@${l.version}`);
  }
  for (const f of facts.inputs) {
    components.push({
      ref: `file:${f.path}`,
      kind: 'file',
      name: f.path,
      hashes: { sha256: digestHex(f.digest) },
      dependsOn: [],
    });
  }
  for (const t of facts.toolchain) {
    const debs = (t.packages ?? []).map((p) => ({ ref: `deb:${p.name}:${p.arch}`, p }));
    components.push({
      ref: `${t.kind === 'image' ? 'image' : 'tool'}:${t.name}`,
      kind: t.kind === 'image' ? 'image' : 'tool',
      name: t.name,
      ...(t.deb ? { version: t.deb.version, purl: debPurl(t.deb) } : {}),
      ...(t.kind === 'image' ? { purl: ociPurl(t.name, t.digest) } : {}),
      hashes: { sha256: digestHex(t.digest) },
      dependsOn: debs.map((d) => d.ref).sort(compareBytes),
    });
    for (const { ref, p } of debs)
      if (!components.some((c) => c.ref === ref))
        components.push({
          ref,
          kind: 'deb',
          name: p.name,
          version: p.version,
          purl: debPurl(p),
          hashes: {},
          dependsOn: [],
        });
  }
  for (const d of facts.deps) {
    const digest = d.artifact ?? d.outputs;
    components.push({
      ref: `target:${d.target}`,
      kind: 'target',
      name: `${facts.project}/${d.target}`,
      purl: ociPurl(d.target, digest),
      hashes: { sha256: digestHex(digest) },
      dependsOn: [],
    });
  }
  for (const l of facts.lock ?? []) {
    if (l.kind === 'npm') {
      if (!l.version) continue;
      components.push({
        ref: `npm:${l.name}@${l.version}`,
        kind: 'npm',
        name: l.name,
        version: l.version,
        purl: npmPurl(l.name, l.version),
        hashes: { ...sriHashes(l.integrity), ...(l.digest ? { sha256: digestHex(l.digest) } : {}) },
        ...(l.license ? { license: l.license } : {}),
        dependsOn: (l.dependsOn ?? [])
          .map((k) => npmRefs.get(k))
          .filter((r): r is string => r !== undefined)
          .sort(compareBytes),
      });
    } else {
      components.push({
        ref: `lockfile:${l.name}`,
        kind: 'file',
        name: l.name,
        hashes: l.digest ? { sha256: digestHex(l.digest) } : sriHashes(l.integrity),
        dependsOn: [],
      });
    }
  }
  components.sort((a, b) => compareBytes(a.ref, b.ref));
  const reached = new Set(components.flatMap((c) => c.dependsOn));
  const root: SbomComponent = {
    ref: 'artifact',
    kind: 'artifact',
    name: facts.artifact.name,
    purl: ociPurl(facts.artifact.name, facts.artifact.digest),
    hashes: { sha256: digestHex(facts.artifact.digest) },
    // The artifact depends on everything but what it reaches through others (npm, Debian packages).
    dependsOn: components.filter((c) => !reached.has(c.ref)).map((c) => c.ref),
  };
  return {
    artifact: facts.artifact,
    created: facts.sourceDateEpoch,
    tool,
    root,
    components,
  };
}

/** A name-based (v5-shaped) UUID derived from `seed`: the same artifact gets the same serial. */
export function derivedUuid(seed: string): string {
  const b = Buffer.from(digestHex(sha256(seed)), 'hex').subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** SOURCE_DATE_EPOCH seconds → RFC 3339 UTC without fractions. */
export function epochTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
