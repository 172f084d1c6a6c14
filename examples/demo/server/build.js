// Bundles the service into dist/server: its sources, lib's generated
// greeting module (so the image needs nothing outside dist/server) and a
// build-info module. Everything written depends only on the sources, lib's
// output and SOURCE_DATE_EPOCH.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';

const out = 'dist/server';
mkdirSync(out, { recursive: true });
const files = readdirSync('server/src')
  .filter((f) => f.endsWith('.js'))
  .sort();
const hash = createHash('sha256');
for (const f of files) {
  hash.update(f).update(readFileSync(`server/src/${f}`));
  copyFileSync(`server/src/${f}`, `${out}/${f}`);
}
copyFileSync('dist/lib/greeting.js', `${out}/greeting.js`);
const epoch = Number(process.env.SOURCE_DATE_EPOCH);
const info = {
  builtAt: new Date(epoch * 1000).toISOString(),
  sources: hash.digest('hex'),
  mode: process.env.NODE_ENV,
};
writeFileSync(
  `${out}/build-info.js`,
  `export const buildInfo = ${JSON.stringify(info, null, 2)};\n`,
);
writeFileSync(`${out}/server.js`, "import './main.js';\n");
