// `airlock verify` from the store: each attachment blob is hashed once, when the store reads
// it (the store checks every blob against its digest on read), not again by the verifier.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type * as Digests from '../src/core/digest.js';
import { noEvents } from '../src/core/events.js';
import { parseManifest } from '../src/oci/index.js';
import { bundleAttachments } from '../src/pipeline/attestations.js';
import { signStatements } from '../src/pipeline/sign.js';
import { runVerify } from '../src/pipeline/verify.js';
import { encodeKeyPair, generateSigningKey } from '../src/sign/index.js';
import { Store } from '../src/store/index.js';
import { POLICY_YAML, statements } from './helpers/evidence.js';
import { storeArtifact } from './helpers/registry-artifacts.js';

const hashed = vi.hoisted(() => ({ inputs: [] as Uint8Array[], on: false }));
vi.mock('../src/core/digest.js', async (importOriginal) => {
  const orig = await importOriginal<typeof Digests>();
  return {
    ...orig,
    sha256: (data: Uint8Array | string) => {
      if (hashed.on && typeof data !== 'string') hashed.inputs.push(data);
      return orig.sha256(data);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'airlock-verify-reads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('verify from the store', () => {
  it('hashes each attachment manifest and bundle once, on read, and still passes', async () => {
    const key = generateSigningKey();
    writeFileSync(join(dir, 'trusted.pub'), (await encodeKeyPair(key, 'pw')).publicPem);
    writeFileSync(join(dir, 'policy.yaml'), POLICY_YAML);
    const store = await Store.open(join(dir, 'store'));
    const art = await storeArtifact(store, 'demo/web', 1000);
    await signStatements(store, art, statements(art.digest, Date.now()), key, noEvents);
    const blobs: Buffer[] = [];
    for (const d of await bundleAttachments(store, art.digest)) {
      const manifest = await store.getBytes(d.digest);
      const m = parseManifest(manifest, d.mediaType, d.digest);
      if (m.kind !== 'manifest') throw new Error('not a manifest');
      blobs.push(manifest, await store.getBytes(m.layers[0]!.digest));
    }
    store.close();
    expect(blobs).toHaveLength(8);

    hashed.on = true;
    const report = await runVerify({
      artifact: art.digest,
      policy: join(dir, 'policy.yaml'),
      store: join(dir, 'store'),
      events: noEvents,
    });
    hashed.on = false;
    expect(report.rules.filter((r) => !r.pass)).toStrictEqual([]);
    expect(report.pass).toBe(true);
    const times = blobs.map((b) => hashed.inputs.filter((x) => Buffer.from(x).equals(b)).length);
    expect(times).toStrictEqual(blobs.map(() => 1));
  });
});
