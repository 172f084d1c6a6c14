// Child process for test/store-fsync.test.ts, run under strace: puts one image,
// then sets TAGS tags on it at once (as the targets of a build finish together).
import { Store } from '../../src/store/index.js';
import { putTinyImage } from './store.js';

const [root, count] = process.argv.slice(2);
if (root === undefined || count === undefined)
  throw new Error('usage: store-tag-writer <root> <tags>');
const store = await Store.open(root);
const img = await putTinyImage(store);
await store.syncWritesAsync();
// A marker the test finds in the trace: what follows are the tags.
process.stdout.write('tags\n');
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) => store.setTag(`tag-${i}`, img.manifest)),
);
process.stdout.write('done\n');
store.close();
