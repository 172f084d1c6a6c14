import type * as CycloneDX from '@cyclonedx/cyclonedx-library';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { derivedUuid, type SbomComponent, type SbomModel } from './sbom-model.js';

// The library's models and JSON serializer only: its main entry also loads the
// XML serializer (xmlbuilder2) and the schema validators (ajv), which take
// longer to load than the SBOM of 500 packages takes to write. Its exports map
// lists no subpath for them, so they are required by file (the version is pinned).
const require = createRequire(import.meta.url);
const lib = join(
  dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')),
  'dist.node',
);
const { Enums, Models, Spec } = require(join(lib, 'index.common.js')) as Pick<
  typeof CycloneDX,
  'Enums' | 'Models' | 'Spec'
>;
const Serialize = require(join(lib, 'serialize', 'index.common.js')) as Pick<
  typeof CycloneDX.Serialize,
  'JsonSerializer' | 'JSON'
>;

/*
 * CycloneDX 1.6 JSON through @cyclonedx/cyclonedx-library. The serial number
 * is derived from the artifact digest and the timestamp is SOURCE_DATE_EPOCH;
 * lists are sorted by the library, components by their ref.
 */

const HASH: Record<string, CycloneDX.Enums.HashAlgorithm> = {
  sha256: Enums.HashAlgorithm['SHA-256'],
  sha384: Enums.HashAlgorithm['SHA-384'],
  sha512: Enums.HashAlgorithm['SHA-512'],
};

const TYPE: Record<SbomComponent['kind'], CycloneDX.Enums.ComponentType> = {
  artifact: Enums.ComponentType.Container,
  file: Enums.ComponentType.File,
  tool: Enums.ComponentType.Application,
  image: Enums.ComponentType.Container,
  target: Enums.ComponentType.Container,
  npm: Enums.ComponentType.Library,
  deb: Enums.ComponentType.Library,
};

function component(c: SbomComponent): CycloneDX.Models.Component {
  const hashes = new Models.HashDictionary();
  for (const [alg, hex] of Object.entries(c.hashes)) {
    const a = HASH[alg];
    if (a) hashes.set(a, hex);
  }
  const licenses = new Models.LicenseRepository();
  if (c.license) licenses.add(new Models.LicenseExpression(c.license));
  return new Models.Component(TYPE[c.kind], c.name, {
    bomRef: c.ref,
    hashes,
    licenses,
    ...(c.version ? { version: c.version } : {}),
    ...(c.purl ? { purl: c.purl } : {}),
  });
}

/** The CycloneDX 1.6 JSON text of `model`, byte-identical for the same model. */
export function cyclonedxJson(model: SbomModel): string {
  const root = component(model.root);
  const tool = new Models.Component(Enums.ComponentType.Application, model.tool.name, {
    version: model.tool.version,
  });
  const bom = new Models.Bom({
    serialNumber: `urn:uuid:${derivedUuid(`cyclonedx\0${model.artifact.digest}`)}`,
    metadata: new Models.Metadata({
      timestamp: new Date(model.created * 1000),
      component: root,
      tools: new Models.Tools({ components: new Models.ComponentRepository([tool]) }),
    }),
  });
  const byRef = new Map<string, CycloneDX.Models.Component>([[model.root.ref, root]]);
  for (const c of model.components) {
    const m = component(c);
    byRef.set(c.ref, m);
    bom.components.add(m);
  }
  for (const c of [model.root, ...model.components]) {
    const m = byRef.get(c.ref)!;
    for (const d of c.dependsOn) {
      const target = byRef.get(d);
      if (target) m.dependencies.add(target.bomRef);
    }
  }
  const serializer = new Serialize.JsonSerializer(
    new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6),
  );
  return serializer.serialize(bom, { sortLists: true, space: 2 }) + '\n';
}
