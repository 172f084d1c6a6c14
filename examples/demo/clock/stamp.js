// Deliberately non-reproducible: the wall clock and a random number.
import { mkdirSync, writeFileSync } from 'node:fs';

mkdirSync('dist/clock', { recursive: true });
writeFileSync(
  'dist/clock/stamp.txt',
  `built at ${new Date().toISOString()}\nnonce ${Math.random()}\n`,
);
