// Child process for test/store-crash.test.ts: writes to a store forever and
// prints one "ack" line after each write has resolved; the parent kills it -9.
// Runs on the compiled dist/ (built before the tests), as plain JavaScript: a
// child started without a TypeScript loader costs ~0.06 s of CPU, not ~0.4 s.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../dist/store/index.js';

const [root, id, scratch] = process.argv.slice(2);
if (root === undefined || id === undefined || scratch === undefined) {
  throw new Error('usage: store-writer <root> <id> <scratch dir>');
}

async function* slowChunks(data) {
  for (let off = 0; off < data.length; off += 16 * 1024) {
    yield data.subarray(off, off + 16 * 1024);
    await new Promise((r) => setImmediate(r));
  }
}

const store = await Store.open(root);
mkdirSync(scratch, { recursive: true });
for (let n = 0; ; n++) {
  // Every third write is content shared by all writers, to race on the same blob.
  const shared = n % 3 === 0;
  const data = shared
    ? Buffer.alloc(64 * 1024 + (n % 7) * 1000, n % 251)
    : randomBytes(Math.floor(Math.random() * 512 * 1024));
  let put;
  switch (n % 4) {
    case 0:
      put = await store.putBytes(data);
      break;
    case 1:
      put = await store.putStream(slowChunks(data), { size: data.length });
      break;
    case 2: {
      const file = join(scratch, `src-${n}`);
      writeFileSync(file, data);
      put = await store.putFile(file);
      break;
    }
    default: {
      const manifest = await store.putJson({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.empty.v1+json',
          digest: (await store.putJson({})).digest,
          size: 2,
        },
        layers: [
          {
            mediaType: 'application/octet-stream',
            digest: (await store.putBytes(data)).digest,
            size: data.length,
          },
        ],
      });
      const tag = `w${id}-${n}`;
      await store.setTag(tag, {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
      });
      process.stdout.write(`tag ${tag} ${manifest.digest}\n`);
      const result = await store.putJson({ outputs: manifest.digest, n });
      const key = (await store.putJson({ action: `${id}-${n}` })).digest;
      await store.putAction(key, result.digest);
      process.stdout.write(`action ${key} ${result.digest}\n`);
      put = manifest;
    }
  }
  process.stdout.write(`ack ${put.digest}\n`);
}
