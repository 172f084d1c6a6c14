import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceFile } from '../../src/check/index.js';

export const CORPUS = fileURLToPath(new URL('../fixtures/check/corpus/', import.meta.url));

/** Every file of one corpus case as root-relative paths and texts. */
export function loadCase(name: string): { paths: string[]; files: SourceFile[] } {
  const root = join(CORPUS, name);
  const paths: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const e of readdirSync(dir)) {
      const p = rel ? `${rel}/${e}` : e;
      if (statSync(join(dir, e)).isDirectory()) walk(join(dir, e), p);
      else paths.push(p);
    }
  };
  walk(root, '');
  return {
    paths,
    files: paths.map((p) => ({ path: p, text: readFileSync(join(root, p), 'utf8') })),
  };
}
