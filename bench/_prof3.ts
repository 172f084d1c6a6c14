import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { noEvents } from '../src/core/events.js';
import { signStatements } from '../src/pipeline/sign.js';
import { runVerify } from '../src/pipeline/verify.js';
import { encodeKeyPair, generateSigningKey } from '../src/sign/index.js';
import { Store } from '../src/store/index.js';
import { POLICY_YAML, statements } from '../test/helpers/evidence.js';
import { storeArtifact } from '../test/helpers/registry-artifacts.js';
const dir = mkdtempSync(join(tmpdir(), 'prof3-'));
const key = generateSigningKey();
writeFileSync(join(dir, 'trusted.pub'), (await encodeKeyPair(key, 'x')).publicPem);
writeFileSync(join(dir, 'policy.yaml'), POLICY_YAML);
const store = await Store.open(join(dir, 'store'));
const art = await storeArtifact(store, 'bench/app', 50_000);
await signStatements(store, art, statements(art.digest, Date.now()), key, noEvents);
store.close();
const times: number[] = [];
for (let i = 0; i < 300; i++) {
  const t = performance.now();
  await runVerify({ artifact: art.digest, policy: join(dir, 'policy.yaml'), store: join(dir, 'store'), events: noEvents });
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log('min', times[0], 'median', times[150], 'max', times[299]);
