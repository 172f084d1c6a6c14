import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../core/errors.js';
import { diffLocks, parseLock, serializeLock, type Lock } from './model.js';
import { npmDependencyGraph, parseNpmLock } from './npm-lock.js';
import { parseNpmrc, tokenFor } from './npmrc.js';

const D1 = `sha256:${'1'.repeat(64)}` as const;
const D2 = `sha256:${'2'.repeat(64)}` as const;

const lock: Lock = {
  npm: [
    { name: 'b', version: '1.0.0', resolved: 'https://r/b.tgz', integrity: 'sha512-B', sha256: D1 },
    { name: 'a', version: '2.0.0', resolved: 'https://r/a.tgz', integrity: 'sha512-A' },
  ],
  files: [{ name: 'tool', url: 'https://e/t', sha256: D2, executable: true, extract: false }],
  images: [{ ref: 'r.example/x@' + D1, digest: D1 }],
};

describe('airlock.lock text', () => {
  it('is canonical: sorted entries, one per line, the same text for any input order', () => {
    const text = serializeLock(lock);
    expect(serializeLock({ ...lock, npm: [...lock.npm].reverse() })).toBe(text);
    const lines = text.split('\n');
    expect(lines.filter((l) => l.startsWith('{"integrity"'))).toEqual([
      '{"integrity":"sha512-A","name":"a","resolved":"https://r/a.tgz","version":"2.0.0"},',
      `{"integrity":"sha512-B","name":"b","resolved":"https://r/b.tgz","sha256":"${D1}","version":"1.0.0"}`,
    ]);
    expect(parseLock(text)).toEqual({ ...lock, npm: [lock.npm[1], lock.npm[0]] });
  });

  it('refuses a hand-edited entry with LOCK_INVALID naming it', () => {
    const text = serializeLock(lock).replace(D2, 'sha256:nothex');
    expect(() => parseLock(text)).toThrow(
      expect.objectContaining({
        code: 'LOCK_INVALID',
        message: expect.stringContaining('files[0]'),
      }),
    );
    expect(() =>
      parseLock(serializeLock(lock).replace('"name":"a"', '"name":"a","extra":1')),
    ).toThrow(/unknown field "extra"/);
  });
});

describe('diffLocks', () => {
  it('reports a bump as changed with both integrities, and an unneeded entry as stale', () => {
    const wanted: Lock = {
      ...lock,
      npm: [{ name: 'a', version: '2.0.0', resolved: 'https://r/a.tgz', integrity: 'sha512-A2' }],
    };
    expect(diffLocks(lock, wanted)).toEqual([
      { kind: 'npm', name: 'a@2.0.0', change: 'changed', old: 'sha512-A', new: 'sha512-A2' },
      { kind: 'npm', name: 'b@1.0.0', change: 'stale', old: 'sha512-B' },
    ]);
  });
  it('does not count a tarball sha256 fetch has yet to record', () => {
    const unfetched = { ...lock, npm: lock.npm.map(({ sha256: _s, ...e }) => e) };
    expect(diffLocks(lock, unfetched)).toEqual([]);
  });
});

describe('parseNpmLock', () => {
  const text = (packages: object, version = 3): string =>
    JSON.stringify({ lockfileVersion: version, packages: { '': {}, ...packages } });
  it('reads tarballs, skips links and bundled packages, and keeps workspace links', () => {
    const got = parseNpmLock(
      text({
        'node_modules/a': {
          version: '1.0.0',
          resolved: 'https://r/a.tgz',
          integrity: 'sha512-A',
          hasInstallScript: true,
        },
        'node_modules/w': { link: true, resolved: 'packages/w' },
        'packages/w': { name: 'w', version: '0.0.0' },
        'node_modules/a/node_modules/c': { version: '1.0.0', inBundle: true },
      }),
      'package-lock.json',
    );
    expect(got.packages).toEqual([
      {
        path: 'node_modules/a',
        name: 'a',
        version: '1.0.0',
        resolved: 'https://r/a.tgz',
        integrity: 'sha512-A',
        hasInstallScript: true,
        dependencies: [],
      },
    ]);
    expect(got.links).toEqual([{ path: 'node_modules/w', target: 'packages/w' }]);
  });
  it('names every entry without resolved or a sha512 integrity, and says how to regenerate', () => {
    let err: unknown;
    try {
      parseNpmLock(
        text({
          'node_modules/a': { version: '1.0.0', integrity: 'sha512-A' },
          'node_modules/b': { version: '1.0.0', resolved: 'https://r/b.tgz', integrity: 'sha1-B' },
        }),
        'package-lock.json',
      );
    } catch (e) {
      err = e;
    }
    expect(isAirlockError(err, 'NPM_LOCK_INCOMPLETE')).toBe(true);
    expect((err as Error).message).toContain('node_modules/a (a@1.0.0): no resolved');
    expect((err as Error).message).toContain('node_modules/b (b@1.0.0): no a sha512 integrity');
  });
  it('refuses lockfileVersion 1', () => {
    expect(() => parseNpmLock(text({}, 1), 'package-lock.json')).toThrow(
      expect.objectContaining({ code: 'NPM_LOCK_INVALID' }),
    );
  });
});

describe('.npmrc tokens', () => {
  const rc = parseNpmrc(
    [
      '//npm.example.com/:_authToken=${NPM_TOKEN}\n//npm.example.com/private/:_authToken=narrow\nregistry=https://npm.example.com/\n',
    ],
    { NPM_TOKEN: 'wide' },
  );
  it('match the longest prefix of the same host and port, and nothing else', () => {
    expect(rc.registry).toBe('https://npm.example.com/');
    expect(tokenFor(rc, new URL('https://npm.example.com/a/-/a-1.tgz'))).toBe('wide');
    expect(tokenFor(rc, new URL('https://npm.example.com/private/x.tgz'))).toBe('narrow');
    expect(tokenFor(rc, new URL('https://npm.example.com:8443/a.tgz'))).toBeUndefined();
    expect(tokenFor(rc, new URL('https://npm.example.com.evil.org/a.tgz'))).toBeUndefined();
    expect(tokenFor(rc, new URL('https://cdn.example.com/a.tgz'))).toBeUndefined();
  });
});

describe('npmDependencyGraph', () => {
  it('resolves each dependency to the nearest node_modules walking up, as Node does', () => {
    const pkg = (version: string, deps: Record<string, string> = {}): object => ({
      version,
      resolved: `https://r/${version}.tgz`,
      integrity: `sha512-${Buffer.from(version).toString('base64')}`,
      dependencies: deps,
    });
    const lock = parseNpmLock(
      JSON.stringify({
        lockfileVersion: 3,
        packages: {
          '': {},
          'node_modules/a': pkg('1.0.0'),
          'node_modules/b': pkg('2.0.0', { a: '1' }),
          'node_modules/c': pkg('3.0.0', { a: '2', b: '2', missing: '1' }),
          'node_modules/c/node_modules/a': pkg('2.0.0'),
        },
      }),
      'package-lock.json',
    );
    expect(Object.fromEntries(npmDependencyGraph(lock))).toEqual({
      'node_modules/a': [],
      'node_modules/b': ['node_modules/a'],
      'node_modules/c': ['node_modules/c/node_modules/a', 'node_modules/b'],
      'node_modules/c/node_modules/a': [],
    });
  });
});
