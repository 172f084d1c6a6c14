// Child process for test/store-fsync.test.ts, run under strace: puts a blob,
// then records two action entries naming it at once, so that the second
// finds the first one's fsync of blobs/ under way and nothing left to sync.
// Runs on the compiled dist/ (built before the tests), as plain JavaScript: a
// child started without a TypeScript loader costs ~0.06 s of CPU, not ~0.4 s.
import { Store } from '../../dist/store/index.js';
import { sha256 } from '../../dist/core/index.js';

const [root] = process.argv.slice(2);
if (root === undefined) throw new Error('usage: store-concurrent-writer <root>');
const store = await Store.open(root);
const blob = await store.putBytes(Buffer.from('named by two action entries'));
// A marker the test finds in the trace: what follows are the references.
process.stdout.write('reference\n');
await Promise.all([
  store.putAction(sha256('first action'), blob.digest),
  store.putAction(sha256('second action'), blob.digest),
]);
process.stdout.write('done\n');
store.close();
