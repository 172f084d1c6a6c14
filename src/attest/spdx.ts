import { compareBytes } from '../core/compare.js';
import { derivedUuid, epochTime, type SbomComponent, type SbomModel } from './sbom-model.js';

/*
 * SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/). The document
 * namespace is derived from the artifact digest, `created` is
 * SOURCE_DATE_EPOCH, packages and relationships are sorted.
 */

const ALG: Record<string, string> = { sha256: 'SHA256', sha384: 'SHA384', sha512: 'SHA512' };

/** An SPDX id for a component ref: letters, digits, `.` and `-` only, unique by a short hash. */
function spdxId(ref: string): string {
  const clean = ref.replace(/[^A-Za-z0-9.-]+/g, '-').slice(0, 80);
  return `SPDXRef-${clean}-${derivedUuid(ref).slice(0, 8)}`;
}

function spdxPackage(c: SbomComponent): Record<string, unknown> {
  const checksums = Object.entries(c.hashes)
    .filter(([alg]) => ALG[alg] !== undefined)
    .map(([alg, hex]) => ({ algorithm: ALG[alg]!, checksumValue: hex }))
    .sort((a, b) => compareBytes(a.algorithm, b.algorithm));
  return {
    SPDXID: spdxId(c.ref),
    name: c.name,
    ...(c.version ? { versionInfo: c.version } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    ...(checksums.length ? { checksums } : {}),
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: c.license ?? 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    primaryPackagePurpose:
      c.kind === 'artifact' || c.kind === 'image' || c.kind === 'target'
        ? 'CONTAINER'
        : c.kind === 'file'
          ? 'FILE'
          : c.kind === 'tool'
            ? 'APPLICATION'
            : 'LIBRARY',
    ...(c.purl
      ? {
          externalRefs: [
            {
              referenceCategory: 'PACKAGE-MANAGER',
              referenceType: 'purl',
              referenceLocator: c.purl,
            },
          ],
        }
      : {}),
  };
}

/** The SPDX 2.3 JSON text of `model`, byte-identical for the same model. */
export function spdxJson(model: SbomModel): string {
  const all = [model.root, ...model.components];
  const relationships: {
    spdxElementId: string;
    relationshipType: string;
    relatedSpdxElement: string;
  }[] = [
    {
      spdxElementId: 'SPDXRef-DOCUMENT',
      relationshipType: 'DESCRIBES',
      relatedSpdxElement: spdxId(model.root.ref),
    },
  ];
  const known = new Set(all.map((c) => c.ref));
  for (const c of all) {
    for (const d of c.dependsOn) {
      if (!known.has(d)) continue;
      relationships.push({
        spdxElementId: spdxId(c.ref),
        relationshipType: 'DEPENDS_ON',
        relatedSpdxElement: spdxId(d),
      });
    }
  }
  relationships.sort(
    (a, b) =>
      compareBytes(a.spdxElementId, b.spdxElementId) ||
      compareBytes(a.relationshipType, b.relationshipType) ||
      compareBytes(a.relatedSpdxElement, b.relatedSpdxElement),
  );
  const doc = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: model.artifact.name,
    documentNamespace: `https://airlock.dev/spdx/${encodeURIComponent(model.artifact.name)}-${derivedUuid(`spdx\0${model.artifact.digest}`)}`,
    creationInfo: {
      created: epochTime(model.created),
      creators: [`Tool: ${model.tool.name}-${model.tool.version}`],
    },
    packages: all.map(spdxPackage).sort((a, b) => compareBytes(String(a.SPDXID), String(b.SPDXID))),
    relationships,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
