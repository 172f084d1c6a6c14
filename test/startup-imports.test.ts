import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/cli.js';

/**
 * Every module a file loads when it is imported: its static imports (not
 * `import type`, not `await import(...)`), followed through src/. Packages are
 * named as `pkg:<name>`, each with the chain of src files that reaches it.
 */
function staticGraph(entries: string[]): Map<string, string[]> {
  const reached = new Map<string, string[]>();
  const visit = (file: string, chain: string[]): void => {
    const text = readFileSync(file, 'utf8');
    const here = [...chain, relative(REPO, file)];
    const specifiers = [
      ...text.matchAll(/^(?:import|export)(?!\s+type\b)[^;'"]*?from\s+'([^']+)';/gms),
      ...text.matchAll(/^import\s+'([^']+)';/gm),
    ].map((m) => m[1]!);
    for (const spec of specifiers) {
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        const key = relative(REPO, target);
        if (reached.has(key)) continue;
        reached.set(key, here);
        visit(target, here);
      } else {
        const name = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : spec.split('/')[0]!;
        if (!reached.has(`pkg:${name}`)) reached.set(`pkg:${name}`, here);
      }
    }
  };
  for (const e of entries) visit(join(REPO, e), []);
  return reached;
}

describe('what a warm `airlock build` loads before it can answer', () => {
  // The CLI, the build use-case and the lock hooks every build runs.
  const graph = staticGraph([
    'src/cli/main.ts',
    'src/pipeline/build.ts',
    'src/pipeline/npm-install.ts',
  ]);

  it('loads no YAML parser, schema library, signing or SBOM package: they load only when used', () => {
    const heavy = [...graph.keys()].filter((k) =>
      /^pkg:(yaml|zod|@sigstore\/.*|@cyclonedx\/.*|dockerfile-ast|tweetnacl|tar-stream)$/.test(k),
    );
    expect(heavy.map((k) => `${k} <- ${graph.get(k)!.reverse().join(' <- ')}`)).toEqual([]);
  });

  it('reaches the config parser only through a dynamic import (a changed airlock.yaml)', () => {
    expect(graph.has('src/config/parse.ts')).toBe(false);
    expect(graph.has('src/config/schema.ts')).toBe(false);
  });

  it('loads the registry client, the downloader and the archive code only when a build uses them', () => {
    const loaded = ['src/registry/client.ts', 'src/lock/download.ts', 'src/archive/pack.ts'].filter(
      (f) => graph.has(f),
    );
    expect(loaded.map((f) => `${f} <- ${[...graph.get(f)!].reverse().join(' <- ')}`)).toEqual([]);
  });
});

describe('what bin/airlock.js loads before it knows whether the build daemon serves the build', () => {
  const graph = staticGraph(['src/daemon/client.ts']);

  it('loads no package and none of the CLI, only the small daemon client modules', () => {
    expect([...graph.keys()].sort()).toEqual([
      'src/core/version.ts',
      'src/daemon/paths.ts',
      'src/daemon/protocol.ts',
      'src/daemon/wanted.ts',
    ]);
  });
});
