import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, PREDICATE, parseStatement } from '../attest/index.js';
import { tagFor } from '../builder/executor.js';
import { digestHex } from '../core/digest.js';
import { CONFIG_FILE } from '../config/index.js';
import { parseManifest } from '../oci/index.js';
import { parseBundle } from '../sign/index.js';
import { Store, defaultStoreRoot } from '../store/index.js';
import { bundleAttachments } from './attestations.js';

/** What level 5 still lacks, per target: empty when every target's latest artifact has it all. */
export interface LevelFiveEvidence {
  complete: boolean;
  missing: string[];
}

/**
 * Reads the evidence of each target's latest artifact in the store: a
 * signed reproducibility attestation saying REPRODUCIBLE, and signed SLSA
 * provenance and SBOM. The bundles are parsed and their statements must name
 * the artifact; their signatures are checked against keys by `airlock
 * verify` (check has no policy, so it trusts no key).
 */
export async function levelFiveEvidence(
  root: string,
  storeRoot = defaultStoreRoot(),
): Promise<LevelFiveEvidence> {
  const configFile = join(root, CONFIG_FILE);
  if (!existsSync(configFile))
    return {
      complete: false,
      missing: ['an airlock.yaml whose targets are built, reproduced and signed'],
    };
  if (!existsSync(storeRoot))
    return {
      complete: false,
      missing: [
        `a store at ${storeRoot}: run \`airlock build\`, \`airlock repro\` and \`airlock sign\``,
      ],
    };
  const { loadConfig } = await import('../config/index.js');
  const project = await loadConfig(configFile);
  const store = await Store.open(storeRoot);
  const missing: string[] = [];
  try {
    for (const target of project.targets.keys()) {
      const desc = await store.resolveTag(tagFor(project.name, target));
      if (!desc) {
        missing.push(`${target}: no artifact in the store (\`airlock build ${target}\`)`);
        continue;
      }
      const types = new Map<string, unknown[]>();
      for (const d of await bundleAttachments(store, desc.digest)) {
        try {
          const m = parseManifest(await store.getBytes(d.digest), d.mediaType, d.digest);
          if (m.kind !== 'manifest' || m.subject?.digest !== desc.digest || !m.layers[0]) continue;
          const bundle = parseBundle(await store.getBytes(m.layers[0].digest));
          if (bundle.content.$case !== 'dsseEnvelope') continue;
          if (bundle.content.dsseEnvelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) continue;
          const s = parseStatement(bundle.content.dsseEnvelope.payload);
          if (!s.subject.every((x) => x.digest.sha256 === digestHex(desc.digest))) continue;
          types.set(s.predicateType, [...(types.get(s.predicateType) ?? []), s.predicate.result]);
        } catch {
          // an unreadable bundle is no evidence
        }
      }
      const lack: string[] = [];
      if (types.size === 0) lack.push(`a signature (\`airlock sign ${target}\`)`);
      if (!types.has(PREDICATE.slsaProvenance)) lack.push('signed SLSA provenance');
      if (!types.has(PREDICATE.cyclonedx) && !types.has(PREDICATE.spdx)) lack.push('a signed SBOM');
      const repro = types.get(PREDICATE.reproducibility);
      if (!repro)
        lack.push(`a signed reproducibility attestation (\`airlock repro ${target}\`, then sign)`);
      else if (!repro.every((r) => r === 'REPRODUCIBLE'))
        lack.push('a reproducibility attestation that says REPRODUCIBLE');
      if (lack.length > 0) missing.push(`${target} (${desc.digest}): needs ${lack.join(', ')}`);
    }
  } finally {
    store.close();
  }
  return { complete: missing.length === 0, missing };
}
