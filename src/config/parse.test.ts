import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from './index.js';
import { parseConfig } from './index.js';

const FILE = '/proj/airlock.yaml';

/** The problems of `text`, which must not parse into a config. */
function problemsOf(text: string): ConfigProblem[] {
  const { config, problems } = parseConfig(text, FILE);
  expect(config).toBeUndefined();
  expect(problems.length).toBeGreaterThan(0);
  return problems;
}

/** The one problem at `path`. */
function at(problems: ConfigProblem[], path: string): ConfigProblem {
  const hits = problems.filter((p) => p.path === path);
  expect(hits, `problems at ${path}: ${JSON.stringify(problems, null, 1)}`).toHaveLength(1);
  return hits[0]!;
}

const HEAD = 'version: 1\nname: hello\ntargets:\n';

describe('parseConfig', () => {
  describe('when the file is the full example of the format', () => {
    const text = `# airlock.yaml
version: 1
name: hello
sourceDateEpoch: 1700000000
targets:
  lib:
    sources: ["lib/**/*.js", "package.json"]
    exclude: ["lib/**/*.test.js"]
    toolchain:
      host: [node]
    env: { NODE_ENV: production }
    steps:
      - node build.js
    outputs: ["dist/**"]
  web:
    sources: ["./web/**"]
    deps: [lib, { target: lib, path: ./vendor/lib/ }]
    toolchain: { host: [node] }
    steps: ["node web/build.js"]
    outputs: ["dist/web/**"]
    sourceDateEpoch: 1700000001
    timeout: 30m
    limits: { tmp: 512MiB, home: 1048576, outputs: 2G, log: 8M }
    image:
      entrypoint: ["node", "dist/web/server.js"]
      cmd: []
      env: { PORT: "8080" }
      workingDir: /app
      exposedPorts: ["8080/tcp"]
`;

    it('returns the model with defaults filled in, targets in file order', () => {
      const { config, problems } = parseConfig(text, FILE);
      expect(problems).toEqual([]);
      expect(config).toBeDefined();
      expect(config!.file).toBe(FILE);
      expect(config!.root).toBe('/proj');
      expect(config!.name).toBe('hello');
      expect(config!.sourceDateEpoch).toBe(1700000000);
      expect([...config!.targets.keys()]).toEqual(['lib', 'web']);
      expect(config!.targets.get('lib')).toEqual({
        name: 'lib',
        sources: ['lib/**/*.js', 'package.json'],
        exclude: ['lib/**/*.test.js'],
        deps: [],
        steps: ['node build.js'],
        outputs: ['dist/**'],
        env: { NODE_ENV: 'production' },
        toolchain: { host: ['node'] },
        limits: {
          timeoutSeconds: 3600,
          tmpBytes: 1024 ** 3,
          homeBytes: 1024 ** 3,
          outputBytes: 4 * 1024 ** 3,
          logBytes: 64 * 1024 ** 2,
        },
      });
      expect(config!.targets.get('web')).toEqual({
        name: 'web',
        sources: ['web/**'],
        exclude: [],
        deps: [
          { target: 'lib', path: '.' },
          { target: 'lib', path: 'vendor/lib' },
        ],
        steps: ['node web/build.js'],
        outputs: ['dist/web/**'],
        env: {},
        toolchain: { host: ['node'] },
        sourceDateEpoch: 1700000001,
        limits: {
          timeoutSeconds: 1800,
          tmpBytes: 512 * 1024 ** 2,
          homeBytes: 1048576,
          outputBytes: 2 * 1024 ** 3,
          logBytes: 8 * 1024 ** 2,
        },
        image: {
          entrypoint: ['node', 'dist/web/server.js'],
          cmd: [],
          env: { PORT: '8080' },
          workingDir: '/app',
          exposedPorts: ['8080/tcp'],
        },
      });
    });

    it('makes a relative file name absolute', () => {
      const { config } = parseConfig(text, 'airlock.yaml');
      expect(config!.file).toBe(resolve('airlock.yaml'));
    });
  });

  describe('keeps the file order of targets', () => {
    it('even for names that look like numbers', () => {
      const { config } = parseConfig(
        HEAD +
          '  zeta: { sources: [a], steps: [s], outputs: [z] }\n' +
          '  10: { sources: [a], steps: [s], outputs: [t], deps: ["2"] }\n' +
          '  2: { sources: [a], steps: [s], outputs: [d] }\n',
        FILE,
      );
      expect([...config!.targets.keys()]).toEqual(['zeta', '10', '2']);
    });
  });

  describe('reports, at the offending key or value', () => {
    it('an unknown key, with the closest known key', () => {
      const p = at(
        problemsOf(HEAD + '  lib:\n    sourcs: [a]\n    steps: [s]\n    outputs: [o]\n'),
        'targets.lib.sourcs',
      );
      expect(p).toMatchObject({ file: FILE, line: 5, column: 5 });
      expect(p.message).toContain('did you mean "sources"?');
      expect(p.fix).toBe('rename it to "sources"');
    });

    it('a timeout that is not a duration, and an unreadable or unknown limit with the closest key', () => {
      const problems = problemsOf(
        HEAD +
          '  lib:\n    sources: [a]\n    steps: [s]\n    outputs: [o]\n    timeout: soon\n    limits:\n      tmp: -5\n      outputz: 1G\n',
      );
      expect(at(problems, 'targets.lib.timeout')).toMatchObject({ line: 8, column: 14 });
      expect(at(problems, 'targets.lib.timeout').fix).toContain('timeout: 30m');
      expect(at(problems, 'targets.lib.limits.tmp')).toMatchObject({ line: 10, column: 12 });
      expect(at(problems, 'targets.lib.limits.tmp').message).toContain('positive size');
      const unknown = at(problems, 'targets.lib.limits.outputz');
      expect(unknown).toMatchObject({ line: 11, column: 7 });
      expect(unknown.message).toContain('did you mean "outputs"?');
    });

    it('a misspelt required key once, not also as missing', () => {
      const problems = problemsOf(
        HEAD + '  lib:\n    sourcs: [a]\n    steps: [s]\n    outputs: [o]\n',
      );
      expect(problems).toHaveLength(1);
    });

    it('an unknown top-level key without a close match, listing the allowed keys', () => {
      const p = at(
        problemsOf(
          'version: 1\nname: x\nfoo: 1\ntargets:\n  a: { sources: [a], steps: [s], outputs: [o] }\n',
        ),
        'foo',
      );
      expect(p).toMatchObject({ line: 3, column: 1 });
      expect(p.fix).toContain('version, name, sourceDateEpoch, targets');
    });

    it('a YAML syntax error at the position the parser gives', () => {
      const problems = problemsOf(
        'version: 1\nname: x\ntargets:\n  a:\n    steps: ["x", "y"\n    outputs: [o]\n',
      );
      expect(problems[0]!.message).toMatch(/^YAML syntax error/);
      expect(problems[0]).toMatchObject({ line: 6, column: 5, path: '' });
    });

    it('a tab used for indentation', () => {
      const problems = problemsOf('version: 1\ntargets:\n\ta: 1\n');
      expect(problems[0]).toMatchObject({ line: 3, column: 1 });
      expect(problems[0]!.fix).toBe('indent with spaces, not tabs');
    });

    it('a duplicate key at its second occurrence, naming the first', () => {
      const p = at(
        problemsOf(
          HEAD + '  lib:\n    sources: [a]\n    steps: [s]\n    sources: [b]\n    outputs: [o]\n',
        ),
        'targets.lib.sources',
      );
      expect(p).toMatchObject({ line: 7, column: 5 });
      expect(p.message).toBe('duplicate key "sources" (first at line 5)');
    });

    it('a wrong type with a fix in the right shape', () => {
      const p = at(
        problemsOf(HEAD + '  lib:\n    sources: "lib/**"\n    steps: [s]\n    outputs: [o]\n'),
        'targets.lib.sources',
      );
      expect(p).toMatchObject({ line: 5, column: 14 });
      expect(p.message).toBe('"sources" must be a list, not a string');
      expect(p.fix).toBe('write it as a list: sources: ["lib/**"]');
    });

    it('an empty list where one entry is required', () => {
      const p = at(
        problemsOf(HEAD + '  lib:\n    sources: [a]\n    steps: []\n    outputs: [o]\n'),
        'targets.lib.steps',
      );
      expect(p).toMatchObject({ line: 6, column: 12 });
      expect(p.message).toContain('is empty; at least one entry is required');
    });

    it('a key with no value', () => {
      const p = at(
        problemsOf(HEAD + '  lib:\n    sources: [a]\n    steps:\n    outputs: [o]\n'),
        'targets.lib.steps',
      );
      expect(p).toMatchObject({ line: 6, column: 5 });
      expect(p.message).toBe('"steps" has no value; expected a list');
    });

    it('a missing required key at the entry that should hold it', () => {
      const p = at(
        problemsOf(HEAD + '  lib:\n    sources: [a]\n    steps: [s]\n'),
        'targets.lib.outputs',
      );
      expect(p).toMatchObject({ line: 4, column: 3 });
      expect(p.message).toBe('missing required key "outputs"');
      expect(p.fix).toBe('add outputs: ["dist/**"]');
    });

    it('a dep on a target that does not exist, with the closest name', () => {
      const p = at(
        problemsOf(
          HEAD +
            '  lib: { sources: [a], steps: [s], outputs: [o] }\n' +
            '  web: { sources: [a], steps: [s], outputs: [w], deps: [lbi] }\n',
        ),
        'targets.web.deps[0]',
      );
      expect(p).toMatchObject({ line: 5, column: 57 });
      expect(p.message).toBe('dep "lbi" is not a target in this file; did you mean "lib"?');
    });

    it('a dependency cycle, naming the whole cycle at the dep that closes it', () => {
      const problems = problemsOf(
        HEAD +
          '  a:\n    sources: [a]\n    steps: [s]\n    outputs: [oa]\n    deps: [b]\n' +
          '  b:\n    sources: [b]\n    steps: [s]\n    outputs: [ob]\n    deps:\n      - c\n' +
          '  c:\n    sources: [c]\n    steps: [s]\n    outputs: [oc]\n    deps:\n      - { target: a, path: va }\n',
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatchObject({ line: 20, column: 9, path: 'targets.c.deps[0]' });
      expect(problems[0]!.message).toBe('dependency cycle: a → b → c → a');
    });

    it('a target that depends on itself', () => {
      const p = at(
        problemsOf(
          HEAD + '  a: { sources: [a], steps: [s], outputs: [o], deps: [{ target: a }] }\n',
        ),
        'targets.a.deps[0].target',
      );
      expect(p).toMatchObject({ line: 4, column: 65 });
      expect(p.message).toBe('target "a" depends on itself');
    });

    it('absolute globs and globs or paths that climb out with ".."', () => {
      const problems = problemsOf(
        HEAD +
          '  a:\n    sources: ["/etc/**", "src/../../x", "{..,src}/y"]\n    steps: [s]\n' +
          '    outputs: ["~/out"]\n    exclude: ["C:/x"]\n' +
          '  b:\n    sources: [b]\n    steps: [s]\n    outputs: [ob]\n    deps: [{ target: a, path: ../up }]\n',
      );
      expect(at(problems, 'targets.a.sources[0]')).toMatchObject({ line: 5, column: 15 });
      expect(at(problems, 'targets.a.sources[0]').fix).toContain('"etc/**"');
      expect(at(problems, 'targets.a.sources[1]')).toMatchObject({ line: 5, column: 26 });
      expect(at(problems, 'targets.a.sources[1]').message).toContain('outside the project');
      expect(at(problems, 'targets.a.sources[2]')).toMatchObject({ line: 5, column: 41 });
      expect(at(problems, 'targets.a.outputs[0]')).toMatchObject({ line: 7, column: 15 });
      expect(at(problems, 'targets.a.exclude[0]')).toMatchObject({ line: 8, column: 15 });
      expect(at(problems, 'targets.b.deps[0].path')).toMatchObject({ line: 13, column: 31 });
      expect(problems).toHaveLength(6);
    });

    it('an invalid target name', () => {
      const p = at(
        problemsOf(HEAD + '  "-web app": { sources: [a], steps: [s], outputs: [o] }\n'),
        'targets["-web app"]',
      );
      expect(p).toMatchObject({ line: 4, column: 3 });
      expect(p.fix).toBe('rename it, e.g. web-app');
    });

    it('an invalid project name, with a valid one to use', () => {
      const p = at(
        problemsOf(
          'version: 1\nname: My App\ntargets:\n  a: { sources: [a], steps: [s], outputs: [o] }\n',
        ),
        'name',
      );
      expect(p).toMatchObject({ line: 2, column: 7 });
      expect(p.fix).toBe('rename it, e.g. name: my-app');
    });

    it('invalid env names and values that are not strings, with "quote it"', () => {
      const problems = problemsOf(
        HEAD +
          '  a:\n    sources: [a]\n    steps: [s]\n    outputs: [o]\n' +
          '    env:\n      PORT: 8080\n      DEBUG: true\n      my-var: x\n',
      );
      expect(at(problems, 'targets.a.env.PORT')).toMatchObject({
        line: 9,
        column: 13,
        fix: 'quote it: PORT: "8080"',
      });
      expect(at(problems, 'targets.a.env.DEBUG')).toMatchObject({
        line: 10,
        column: 14,
        fix: 'quote it: DEBUG: "true"',
      });
      expect(at(problems, 'targets.a.env.my-var')).toMatchObject({
        line: 11,
        column: 7,
        fix: 'rename it, e.g. my_var',
      });
    });

    it('an output declared by two targets', () => {
      const p = at(
        problemsOf(
          HEAD +
            '  a: { sources: [a], steps: [s], outputs: ["dist/**"] }\n' +
            '  b: { sources: [b], steps: [s], outputs: ["dist/b", "./dist/**"] }\n',
        ),
        'targets.b.outputs[1]',
      );
      expect(p).toMatchObject({ line: 5, column: 54 });
      expect(p.message).toBe('output "./dist/**" is also declared by target "a"');
    });

    it('an unsupported version', () => {
      const p = at(
        problemsOf(
          'version: 2\nname: x\ntargets:\n  a: { sources: [a], steps: [s], outputs: [o] }\n',
        ),
        'version',
      );
      expect(p).toMatchObject({ line: 1, column: 10 });
      expect(p.message).toContain('unsupported version 2');
    });

    it('a sourceDateEpoch written as a string', () => {
      const p = at(
        problemsOf(
          'version: 1\nname: x\nsourceDateEpoch: "1700000000"\ntargets:\n  a: { sources: [a], steps: [s], outputs: [o] }\n',
        ),
        'sourceDateEpoch',
      );
      expect(p).toMatchObject({
        line: 3,
        column: 18,
        fix: 'write it without quotes: sourceDateEpoch: 1700000000',
      });
    });

    it('a number-like env value, quoted as written', () => {
      const p = at(
        problemsOf(HEAD + '  a: { sources: [a], steps: [s], outputs: [o], env: { ZIP: 01234 } }\n'),
        'targets.a.env.ZIP',
      );
      expect(p.fix).toBe('quote it: ZIP: "01234"');
    });

    it('a dep listed twice with the same path', () => {
      const p = at(
        problemsOf(
          HEAD +
            '  a: { sources: [a], steps: [s], outputs: [oa] }\n' +
            '  b: { sources: [b], steps: [s], outputs: [ob], deps: [a, { target: a, path: ./ }] }\n',
        ),
        'targets.b.deps[1]',
      );
      expect(p).toMatchObject({ line: 5, column: 59 });
      expect(p.message).toBe('dep "a" is listed twice with the same path');
    });

    it('a long-form dep without a target, at the dep', () => {
      const p = at(
        problemsOf(
          HEAD + '  a: { sources: [a], steps: [s], outputs: [oa], deps: [{ path: x }] }\n',
        ),
        'targets.a.deps[0].target',
      );
      expect(p).toMatchObject({ line: 4, column: 56, message: 'missing required key "target"' });
    });

    it('a target with no body, with an example body', () => {
      const p = at(problemsOf(HEAD + '  lib:\n'), 'targets.lib');
      expect(p).toMatchObject({
        line: 4,
        column: 3,
        message: '"lib" has no value; expected a mapping',
      });
      expect(p.fix).toContain('lib: { sources: ["src/**"]');
    });

    it('a host tool given by path', () => {
      const p = at(
        problemsOf(
          HEAD +
            '  a: { sources: [a], steps: [s], outputs: [o], toolchain: { host: [/usr/bin/node] } }\n',
        ),
        'targets.a.toolchain.host[0]',
      );
      expect(p).toMatchObject({ line: 4, column: 68 });
      expect(p.fix).toContain('write "node"');
    });

    it('an image with a relative workingDir and a bad port', () => {
      const problems = problemsOf(
        HEAD +
          '  a:\n    sources: [a]\n    steps: [s]\n    outputs: [o]\n    image:\n      workingDir: app\n      exposedPorts: ["8080/tcp", "70000/tcp"]\n',
      );
      expect(at(problems, 'targets.a.image.workingDir')).toMatchObject({ line: 9, column: 19 });
      expect(at(problems, 'targets.a.image.exposedPorts[1]')).toMatchObject({
        line: 10,
        column: 34,
      });
    });
  });

  describe('when a file has several problems', () => {
    it('reports every one, sorted by position', () => {
      const problems = problemsOf(`version: 3
name: ok
targets:
  lib:
    sources: ["/abs/**"]
    step: ["make"]
    outputs: []
    env: { N: 1 }
  web:
    sources: [web]
    deps: [lib, nope]
    steps: [s]
    outputs: [o]
`);
      expect(problems.map((p) => [p.line, p.column, p.path])).toEqual([
        [1, 10, 'version'],
        [5, 15, 'targets.lib.sources[0]'],
        [6, 5, 'targets.lib.step'],
        [7, 14, 'targets.lib.outputs'],
        [8, 15, 'targets.lib.env.N'],
        [11, 17, 'targets.web.deps[1]'],
      ]);
      expect(problems.every((p) => p.file === FILE && p.fix.length > 0)).toBe(true);
    });
  });

  describe('when the input is not a config at all', () => {
    it.each([
      ['an empty file', ''],
      ['a comment only', '# nothing\n'],
      ['a list', '- a\n- b\n'],
      ['a scalar', '42\n'],
      ['two documents', 'version: 1\n---\nversion: 1\n'],
      ['complex keys', '? [a]\n: b\n'],
      [
        'an alias bomb',
        'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
      ],
      ['targets as a list', 'version: 1\nname: x\ntargets: [a]\n'],
      ['no targets', 'version: 1\nname: x\ntargets: {}\n'],
    ])('returns problems for %s without throwing', (_what, text) => {
      const { config, problems } = parseConfig(text, FILE);
      expect(config).toBeUndefined();
      expect(problems.length).toBeGreaterThan(0);
      for (const p of problems) {
        expect(p.line).toBeGreaterThanOrEqual(1);
        expect(p.column).toBeGreaterThanOrEqual(1);
        expect(p.fix).not.toBe('');
      }
    });
  });
});

describe('parseConfig on absurdly nested YAML', () => {
  it.each([
    [
      'a 3,000-deep block list',
      `${HEAD}  a:\n    sources: ["x"]\n    steps:\n      ${'- '.repeat(3000)}x\n`,
    ],
    ['a 3,000-deep flow list', `${HEAD}  a:\n    steps: ${'['.repeat(3000)}${']'.repeat(3000)}\n`],
    [
      'a 100-deep mapping',
      `${HEAD}${Array.from({ length: 100 }, (_, i) => `${'  '.repeat(i + 1)}k${i}:`).join('\n')} v\n`,
    ],
  ])('reports %s as one config problem with its line, not a stack overflow', (_what, text) => {
    const problems = problemsOf(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toMatch(/nests (far )?deeper than 64 levels/);
    expect(problems[0]!.message).not.toMatch(/call stack/);
    expect(problems[0]!.line).toBeGreaterThan(3);
  });

  it('still reads a config nested a few levels deep', () => {
    const { problems } = parseConfig(
      `${HEAD}  a:\n    sources: ["x"]\n    steps: ["true"]\n    outputs: ["out/**"]\n`,
      FILE,
    );
    expect(problems).toEqual([]);
  });
});
