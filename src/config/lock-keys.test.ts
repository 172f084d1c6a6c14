import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from './index.js';
import { parseConfig } from './index.js';

const FILE = '/proj/airlock.yaml';
const TARGET = '  app:\n    sources: ["src/**"]\n    steps: ["true"]\n    outputs: ["out/**"]\n';

function problemsOf(text: string): ConfigProblem[] {
  const { config, problems } = parseConfig(text, FILE);
  expect(config).toBeUndefined();
  return problems;
}

describe('airlock.yaml keys for locked inputs', () => {
  it('reads npm, files and mirrors into the model with defaults', () => {
    const { config, problems } = parseConfig(
      `version: 1\nname: app\nfiles:\n  tool: { url: "https://example.com/t.tgz", sha256: "${'AB'.repeat(32)}", extract: true }\nmirrors: { npm: "https://npm.example.com/" }\ntargets:\n${TARGET}    npm: { scripts: [esbuild, esbuild] }\n`,
      FILE,
    );
    expect(problems).toEqual([]);
    expect(config?.targets.get('app')?.npm).toEqual({
      lockfile: 'package-lock.json',
      scripts: ['esbuild'],
      skipScripts: [],
      installer: 'airlock',
    });
    expect(config?.files?.get('tool')).toEqual({
      name: 'tool',
      url: 'https://example.com/t.tgz',
      sha256: `sha256:${'ab'.repeat(32)}`,
      executable: false,
      extract: true,
    });
    expect(config?.mirrors).toEqual({ npm: 'https://npm.example.com/' });
  });

  it('points at a misspelt npm key with a did-you-mean', () => {
    const problems = problemsOf(
      `version: 1\nname: app\ntargets:\n${TARGET}    npm: { lockfil: package-lock.json }\n`,
    );
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'targets.app.npm.lockfil',
        line: 8,
        column: 12,
        message: 'unknown key "lockfil" in npm; did you mean "lockfile"?',
      }),
    ]);
  });

  it('refuses a lockfile outside the project or not named like an npm lockfile', () => {
    const outside = problemsOf(
      `version: 1\nname: app\ntargets:\n${TARGET}    npm: { lockfile: ../package-lock.json }\n`,
    );
    expect(outside[0]).toMatchObject({
      path: 'targets.app.npm.lockfile',
      message: expect.stringContaining('not a path inside the project'),
    });
    const other = problemsOf(
      `version: 1\nname: app\ntargets:\n${TARGET}    npm: { lockfile: yarn.lock }\n`,
    );
    expect(other[0]).toMatchObject({
      path: 'targets.app.npm.lockfile',
      message: expect.stringContaining('not a package-lock.json'),
    });
  });

  it('reads a pnpm-lock.yaml as the lockfile, and points a misspelt one at its line with a did-you-mean', () => {
    const { config, problems } = parseConfig(
      `version: 1\nname: app\ntargets:\n${TARGET}    npm: { lockfile: web/pnpm-lock.yaml }\n`,
      FILE,
    );
    expect(problems).toEqual([]);
    expect(config?.targets.get('app')?.npm?.lockfile).toBe('web/pnpm-lock.yaml');
    const yml = problemsOf(
      `version: 1\nname: app\ntargets:\n${TARGET}    npm: { lockfile: pnpm-lock.yml }\n`,
    );
    expect(yml.map((p) => `${p.line}:${p.column} ${p.path}`)).toEqual([
      '8:22 targets.app.npm.lockfile',
    ]);
    expect(yml[0]).toMatchObject({
      message: '"pnpm-lock.yml" is not a package-lock.json, npm-shrinkwrap.json or pnpm-lock.yaml',
      fix: expect.stringContaining('did you mean "pnpm-lock.yaml"?'),
    });
  });

  it('refuses a files: entry with a bad hash, a non-http URL or URL credentials, each located', () => {
    const problems = problemsOf(
      `version: 1\nname: app\nfiles:\n  a: { url: "ftp://example.com/a", sha256: "md5:abc" }\n  b: { url: "https://user:pw@example.com/b", sah256: "x" }\ntargets:\n${TARGET}`,
    );
    expect(problems.map((p) => `${p.line}:${p.column} ${p.path}`)).toEqual([
      '4:13 files.a.url',
      '4:44 files.a.sha256',
      '5:13 files.b.url',
      '5:46 files.b.sah256',
    ]);
    expect(problems[3]?.message).toBe('unknown key "sah256" in file "b"; did you mean "sha256"?');
  });

  it("reads a target's files: placement and skipScripts", () => {
    const { config, problems } = parseConfig(
      `version: 1\nname: app\nfiles:\n  tool: { url: "https://example.com/t.tgz" }\ntargets:\n${TARGET}    files: { tool: ./tools/bin/tool }\n    npm: { skipScripts: [esbuild] }\n`,
      FILE,
    );
    expect(problems).toEqual([]);
    expect(config?.targets.get('app')?.files).toEqual([{ name: 'tool', path: 'tools/bin/tool' }]);
    expect(config?.targets.get('app')?.npm?.skipScripts).toEqual(['esbuild']);
  });

  it("refuses a target's files: naming an undeclared file (did-you-mean) or a path outside the project", () => {
    const problems = problemsOf(
      `version: 1\nname: app\nfiles:\n  tool: { url: "https://example.com/t.tgz" }\ntargets:\n${TARGET}    files: { tol: tools/tool, tool: ../tool }\n`,
    );
    expect(problems.map((p) => `${p.line}:${p.column} ${p.path} ${p.message}`)).toEqual([
      '10:14 targets.app.files.tol "tol" is not declared under the top-level files:; did you mean "tool"?',
      '10:37 targets.app.files.tool "../tool" is not a path inside the project',
    ]);
  });
});
