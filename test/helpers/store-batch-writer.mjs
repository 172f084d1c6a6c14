// Child process for test/store-fsync.test.ts, run under strace: puts a batch
// of blobs into a store, then records an action entry that names the last one.
// Runs on the compiled dist/ (built before the tests), as plain JavaScript: a
// child started without a TypeScript loader costs ~0.06 s of CPU, not ~0.4 s.
import { Store } from '../../dist/store/index.js';
import { sha256 } from '../../dist/core/index.js';

const [root, count] = process.argv.slice(2);
if (root === undefined || count === undefined)
  throw new Error('usage: store-batch-writer <root> <count>');
const store = await Store.open(root);
const puts = [];
for (let i = 0; i < Number(count); i++) {
  puts.push(await store.putBytes(Buffer.from(`blob ${i} ${'x'.repeat(i * 100)}`)));
}
const last = puts[puts.length - 1];
if (last === undefined) throw new Error('count must be at least 1');
// A marker the test finds in the trace: what follows is the reference.
process.stdout.write('reference\n');
await store.putAction(sha256('the action'), last.digest);
store.close();
