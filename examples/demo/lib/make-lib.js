// Turns lib/greeting.txt into an ES module under dist/lib.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const text = readFileSync('lib/greeting.txt', 'utf8').trim();
mkdirSync('dist/lib', { recursive: true });
writeFileSync('dist/lib/greeting.js', `export const greeting = ${JSON.stringify(text)};\n`);
