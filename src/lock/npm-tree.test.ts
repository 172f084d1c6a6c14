import { describe, expect, it } from 'vitest';
import { jsonFormat, normalizeBins, planNpmTree, stringifyNice } from './npm-tree.js';

const LINUX = { os: 'linux', cpu: 'x64', libc: 'glibc' };
const I = (n: number): string => `sha512-${String(n).padStart(86, 'A')}==`;
const R = (name: string): string => `https://registry.npmjs.org/${name}/-/${name}-1.0.0.tgz`;

/** A lock and package.json as npm writes them for `packages` (root dependencies on every top package). */
function project(
  packages: Record<string, Record<string, unknown>>,
  root: Record<string, unknown> = {},
): [string, string] {
  const deps: Record<string, string> = {};
  for (const p of Object.keys(packages))
    if (/^node_modules\/(@[^/]+\/)?[^/]+$/.test(p) && packages[p]!.link !== true)
      deps[p.slice(13)] = '1.0.0';
  const manifest = { name: 'app', version: '1.0.0', dependencies: deps, ...root };
  const lock = {
    name: 'app',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: 'app', version: '1.0.0', dependencies: deps, ...root }, ...packages },
  };
  return [JSON.stringify(lock, null, 2), JSON.stringify(manifest, null, 2)];
}

const pkg = (
  name: string,
  n: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  version: '1.0.0',
  resolved: R(name),
  integrity: I(n),
  ...extra,
});

describe('planNpmTree', () => {
  it('plans nested and scoped packages, their bins in the nearest node_modules/.bin, and the hidden lockfile', () => {
    const [lock, manifest] = project({
      'node_modules/a': pkg('a', 1, { bin: { a: 'cli.js' }, dependencies: { b: '2' } }),
      'node_modules/a/node_modules/b': pkg('b', 2, { bin: { bee: 'bin/b.js' } }),
      'node_modules/@s/c': pkg('c', 3, { bin: { c: 'c.js' } }),
    });
    const { plan, unsupported } = planNpmTree(lock, manifest, LINUX);
    expect(unsupported).toEqual([]);
    expect(plan?.packages.map((p) => [p.path, p.binTargets])).toEqual([
      ['node_modules/a', ['cli.js']],
      ['node_modules/a/node_modules/b', ['bin/b.js']],
      ['node_modules/@s/c', ['c.js']],
    ]);
    expect(plan?.bins.map((b) => `${b.link} -> ${b.target}`)).toEqual([
      'node_modules/.bin/a -> ../a/cli.js',
      'node_modules/a/node_modules/.bin/bee -> ../b/bin/b.js',
      'node_modules/.bin/c -> ../@s/c/c.js',
    ]);
    const hidden = JSON.parse(plan!.hiddenLockfile) as { packages: Record<string, unknown> };
    expect(Object.keys(hidden.packages)).toEqual([
      'node_modules/@s/c',
      'node_modules/a',
      'node_modules/a/node_modules/b',
    ]);
  });

  it.each([
    [
      'a bundled package',
      {
        'node_modules/a': pkg('a', 1),
        'node_modules/a/node_modules/x': { version: '1.0.0', inBundle: true },
      },
      /node_modules\/a\/node_modules\/x is bundled/,
    ],
    [
      'two packages installing the same bin',
      {
        'node_modules/a': pkg('a', 1, { bin: { x: 'a.js' } }),
        'node_modules/b': pkg('b', 2, { bin: { x: 'b.js' } }),
      },
      /both install the bin node_modules\/\.bin\/x/,
    ],
    [
      'a required package for another platform',
      { 'node_modules/a': pkg('a', 1, { os: ['win32'] }) },
      /node_modules\/a is for another platform and not optional/,
    ],
    [
      'flags npm would compute otherwise',
      { 'node_modules/a': pkg('a', 1, { dev: true }) },
      /node_modules\/a has flags .*"dev":true.* npm computes .*"dev":false/,
    ],
    [
      'a package nothing depends on',
      { 'node_modules/a': pkg('a', 1), 'node_modules/a/node_modules/z': pkg('z', 2) },
      /node_modules\/a\/node_modules\/z is not needed by any package/,
    ],
    [
      'an entry key npm does not write',
      { 'node_modules/a': pkg('a', 1, { funny: 1 }) },
      /node_modules\/a has keys npm drops: funny/,
    ],
    [
      'a link out of the project',
      { 'node_modules/a': { resolved: '../elsewhere', link: true } },
      /node_modules\/a links to \.\.\/elsewhere/,
    ],
  ])('lists %s as a reason to let npm install', (_what, packages, reason) => {
    const [lock, manifest] = project(packages);
    const res = planNpmTree(lock, manifest, LINUX);
    expect(res.plan).toBeUndefined();
    expect(res.unsupported.join('\n')).toMatch(reason);
  });

  it('lists tarballs resolved outside a configured registry (npm would rewrite their host)', () => {
    const [lock, manifest] = project({ 'node_modules/a': pkg('a', 1) });
    expect(planNpmTree(lock, manifest, LINUX, 'http://mirror.example/').unsupported).toEqual([
      'node_modules/a is resolved outside the configured registry http://mirror.example/',
    ]);
    expect(planNpmTree(lock, manifest, LINUX, 'https://registry.npmjs.org/').unsupported).toEqual(
      [],
    );
  });
});

describe('npm formatting rules', () => {
  it('normalizes bins as npm-normalize-package-bin: string to the unscoped name, paths made relative, bad keys dropped', () => {
    expect([...normalizeBins('@s/tool', './bin/../cli.js')]).toEqual([['tool', 'cli.js']]);
    expect([...normalizeBins('x', { 'a:b': '../../a.js', '..': 'x.js', ok: '/abs.js' })]).toEqual([
      ['b', 'a.js'],
      ['ok', 'abs.js'],
    ]);
  });

  it('orders keys as json-stringify-nice: plain values first, preferred keys, then by name', () => {
    expect(
      stringifyNice({ z: 1, packages: { b: {}, a: {} }, name: 'n', c: { y: 1, x: 2 } }, 0),
    ).toBe('{"name":"n","z":1,"packages":{"a":{},"b":{}},"c":{"x":2,"y":1}}');
  });

  it('reads indent and newline the way npm does', () => {
    expect(jsonFormat('{\r\n\t"a": 1\r\n}')).toEqual({ newline: '\r\n', indent: '\t' });
    expect(jsonFormat('{"a":1}')).toEqual({ newline: '', indent: '' });
    expect(jsonFormat('{}')).toEqual({ newline: '\n', indent: '  ' });
  });
});
