// Copies the service and its release description into out/app.
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('out/app', { recursive: true });
for (const f of ['server.js', 'release.json']) copyFileSync(`src/${f}`, `out/app/${f}`);
