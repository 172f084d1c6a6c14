// Child process for test/store-fsync.test.ts, run under strace: puts one image,
// then sets TAGS tags on it at once (as the targets of a build finish together).
// Runs on the compiled dist/ (built before the tests), as plain JavaScript: a
// child started without a TypeScript loader costs ~0.06 s of CPU, not ~0.4 s.
import { Store } from '../../dist/store/index.js';

const [root, count] = process.argv.slice(2);
if (root === undefined || count === undefined)
  throw new Error('usage: store-tag-writer <root> <tags>');
const store = await Store.open(root);
const layer = await store.putBytes(Buffer.from('one layer\n'));
const config = await store.putJson({
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [layer.digest] },
});
const manifest = await store.putJson({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: config.digest,
    size: config.size,
  },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size },
  ],
});
const image = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: manifest.digest,
  size: manifest.size,
};
await store.syncWritesAsync();
// A marker the test finds in the trace: what follows are the tags.
process.stdout.write('tags\n');
await Promise.all(Array.from({ length: Number(count) }, (_, i) => store.setTag(`tag-${i}`, image)));
process.stdout.write('done\n');
store.close();
