// The synthetic monorepo the build and hash benchmarks run on: N packages of
// M source files each, buildable by both Airlock (airlock.yaml) and Turborepo
// (npm workspaces + turbo.json), committed to git once.
//
// Layout (v1), e.g. with 50 × 200:
//   <root>/airlock.yaml              one target per package
//   <root>/package.json              npm workspaces ["pkg-*"], packageManager npm@11.0.0
//   <root>/package-lock.json         lockfileVersion 3, workspace links only (no registry deps)
//   <root>/turbo.json                tasks.build.outputs ["dist/**"]
//   <root>/.gitignore                dist/, .turbo/, node_modules/
//   <root>/pkg-07/package.json       scripts.build = "node build.js"
//   <root>/pkg-07/build.js           src/*.js -> dist/{bundle.js,bundle.min.js,manifest.json}
//   <root>/pkg-07/src/f123.js        ~0.4-3 KB of JavaScript
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOk } from './measure.js';

export interface WorkspaceShape {
  packages: number;
  filesPerPackage: number;
}

export const FULL_SHAPE: WorkspaceShape = { packages: 50, filesPerPackage: 200 };

/** The name of package `i`: `pkg-07`. */
export function pkgName(i: number): string {
  return `pkg-${String(i).padStart(2, '0')}`;
}

/** The relative path of source file `j` of package `i`. */
export function sourcePath(i: number, j: number): string {
  return `${pkgName(i)}/src/f${String(j).padStart(3, '0')}.js`;
}

/** Deterministic JavaScript-like text of roughly `bytes` bytes, with comments a minifier strips. */
export function sourceText(seed: number, bytes: number): string {
  let s = seed * 2654435761;
  const rnd = (n: number): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % n;
  };
  const lines = [`/* module ${seed}: generated for the Airlock benchmarks */`, "'use strict';"];
  let len = lines.join('\n').length;
  let k = 0;
  while (len < bytes) {
    const line =
      rnd(4) === 0
        ? `// note ${rnd(1e6)}: keep this comment out of the minified bundle`
        : `function f${seed}_${k++}(a, b) {\n  const x = a * ${rnd(1000)} + b;\n  return x > ${rnd(500)} ? x - ${rnd(77)} : x + ${rnd(91)};\n}`;
    lines.push(line);
    len += line.length + 1;
  }
  return `${lines.join('\n')}\nmodule.exports = { n: ${seed} };\n`;
}

/** The per-package build script, identical for both tools: bundles src/*.js into dist/. */
const BUILD_JS = `'use strict';
// Concatenates src/*.js (sorted) into dist/bundle.js, a comment-free
// dist/bundle.min.js and dist/manifest.json with each file's sha256.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const srcDir = path.join(__dirname, 'src');
const outDir = path.join(__dirname, 'dist');
const names = fs.readdirSync(srcDir).filter((n) => n.endsWith('.js')).sort();
const parts = [];
const files = [];
for (const n of names) {
  const text = fs.readFileSync(path.join(srcDir, n), 'utf8');
  parts.push('// ' + n + '\\n' + text);
  files.push({ file: n, bytes: Buffer.byteLength(text), sha256: crypto.createHash('sha256').update(text).digest('hex') });
}
const bundle = parts.join('\\n');
const min = bundle
  .replace(/\\/\\*[\\s\\S]*?\\*\\//g, '')
  .replace(/^\\s*\\/\\/.*$/gm, '')
  .replace(/\\s+/g, ' ')
  .trim();
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'bundle.js'), bundle);
fs.writeFileSync(path.join(outDir, 'bundle.min.js'), min + '\\n');
fs.writeFileSync(
  path.join(outDir, 'manifest.json'),
  JSON.stringify({ name: path.basename(__dirname), files }, null, 2) + '\\n',
);
`;

function write(root: string, rel: string, text: string): void {
  const abs = join(root, rel);
  mkdirSync(join(abs, '..'), { recursive: true });
  writeFileSync(abs, text);
}

/** Environment for git with a fixed identity and dates, so every copy gets the same commit. */
export function gitEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@example.invalid',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@example.invalid',
    GIT_AUTHOR_DATE: '2024-01-02T03:04:05Z',
    GIT_COMMITTER_DATE: '2024-01-02T03:04:05Z',
    // No background auto-gc/maintenance writing into .git while a bench removes it.
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'gc.auto',
    GIT_CONFIG_VALUE_0: '0',
    GIT_CONFIG_KEY_1: 'maintenance.auto',
    GIT_CONFIG_VALUE_1: 'false',
  };
}

/**
 * Writes the workspace under `root` (which must be empty or absent) and commits
 * it to a new git repository; the same shape always gives the same bytes and commit.
 * Returns the relative paths of all source files.
 */
export async function generateWorkspace(root: string, shape: WorkspaceShape): Promise<string[]> {
  const sources: string[] = [];
  const targets: string[] = [];
  const lockPackages: Record<string, unknown> = {
    '': { name: 'bench-monorepo', version: '0.0.0', workspaces: ['pkg-*'] },
  };
  for (let i = 0; i < shape.packages; i++) {
    const name = pkgName(i);
    for (let j = 0; j < shape.filesPerPackage; j++) {
      const rel = sourcePath(i, j);
      const seed = i * 10_000 + j;
      write(root, rel, sourceText(seed, 400 + ((seed * 7919) % 2600)));
      sources.push(rel);
    }
    write(root, `${name}/build.js`, BUILD_JS);
    write(
      root,
      `${name}/package.json`,
      `${JSON.stringify({ name, version: '0.0.0', private: true, scripts: { build: 'node build.js' } }, null, 2)}\n`,
    );
    lockPackages[`node_modules/${name}`] = { resolved: name, link: true };
    lockPackages[name] = { name, version: '0.0.0' };
    targets.push(
      [
        `  ${name}:`,
        `    sources: ["${name}/src/**", "${name}/build.js", "${name}/package.json"]`,
        '    toolchain: { host: [node] }',
        '    steps:',
        `      - node ${name}/build.js`,
        `    outputs: ["${name}/dist/**"]`,
      ].join('\n'),
    );
  }
  write(root, 'airlock.yaml', `version: 1\nname: bench\ntargets:\n${targets.join('\n')}\n`);
  write(
    root,
    'package.json',
    `${JSON.stringify(
      {
        name: 'bench-monorepo',
        version: '0.0.0',
        private: true,
        workspaces: ['pkg-*'],
        packageManager: 'npm@11.0.0',
      },
      null,
      2,
    )}\n`,
  );
  write(
    root,
    'package-lock.json',
    `${JSON.stringify(
      {
        name: 'bench-monorepo',
        version: '0.0.0',
        lockfileVersion: 3,
        requires: true,
        packages: lockPackages,
      },
      null,
      2,
    )}\n`,
  );
  write(
    root,
    'turbo.json',
    `${JSON.stringify(
      {
        $schema: 'https://turborepo.com/schema.json',
        tasks: { build: { outputs: ['dist/**'] } },
      },
      null,
      2,
    )}\n`,
  );
  write(root, '.gitignore', 'dist/\n.turbo/\nnode_modules/\n');
  const env = gitEnv();
  await runOk('git', ['init', '-q', '-b', 'main'], { cwd: root, env });
  await runOk('git', ['add', '-A'], { cwd: root, env });
  await runOk('git', ['-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'bench workspace'], {
    cwd: root,
    env,
  });
  return sources;
}
