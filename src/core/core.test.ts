import { describe, expect, it } from 'vitest';
import { AIRLOCK_VERSION } from './version.js';
import {
  AirlockError,
  canonicalJson,
  digestJson,
  compareBytes,
  isDigest,
  parseDigest,
  sha256,
  treeDigest,
  type TreeEntry,
} from './index.js';

describe('digest', () => {
  it('hashes bytes to the OCI form', () => {
    expect(sha256('')).toBe(
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  describe('when the string is malformed', () => {
    it.each([
      'sha256:../x',
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'a'.repeat(63)}`,
      `md5:${'a'.repeat(64)}`,
    ])('rejects %s with INVALID_DIGEST', (bad) => {
      expect(isDigest(bad)).toBe(false);
      expect(() => parseDigest(bad, 'test')).toThrow(AirlockError);
    });
  });
});

describe('canonicalJson', () => {
  it('sorts keys and drops insignificant whitespace (RFC 8785)', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'] })).toBe('{"a":[true,null,"x"],"b":1}');
  });
});

describe('compareBytes', () => {
  it('orders by UTF-8 bytes, not by locale', () => {
    const words = ['b', 'B', 'á', 'a', 'Z'];
    expect([...words].sort(compareBytes)).toEqual(['B', 'Z', 'a', 'b', 'á']);
  });
});

describe('compareBytes on arbitrary strings', () => {
  it('agrees with comparing the UTF-8 encodings', () => {
    const alphabet = [
      'a',
      'B',
      '/',
      '.',
      'é',
      '\u00ff',
      '\u07ff',
      '\u0800',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '😀',
      '\u{10000}',
      '\u{10ffff}',
    ];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const word = (): string =>
      Array.from({ length: rand(5) }, () => alphabet[rand(alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const a = word();
      const b = word();
      const expected = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(Math.sign(compareBytes(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(
        expected,
      );
    }
  });
});

describe('treeDigest', () => {
  const file = (path: string, content: string, executable = false): TreeEntry => ({
    path,
    kind: 'file',
    executable,
    digest: sha256(content),
    size: content.length,
  });

  it('does not depend on the order entries were read in', () => {
    const a = [
      file('a/x', '1'),
      file('b', '2'),
      { path: 'l', kind: 'symlink', target: 'b' } as const,
    ];
    expect(treeDigest(a)).toBe(treeDigest([...a].reverse()));
  });

  it('changes with content, path, executable bit and link target', () => {
    const base = treeDigest([file('a', '1')]);
    expect(treeDigest([file('a', '2')])).not.toBe(base);
    expect(treeDigest([file('b', '1')])).not.toBe(base);
    expect(treeDigest([file('a', '1', true)])).not.toBe(base);
    expect(treeDigest([{ path: 'a', kind: 'symlink', target: 'x' }])).not.toBe(
      treeDigest([{ path: 'a', kind: 'symlink', target: 'y' }]),
    );
  });

  it('equals the digest of the RFC 8785 canonical JSON of its rows', () => {
    const entries = [
      file('b/ü "q"', 'x\n', true),
      { path: 'a', kind: 'symlink', target: '../t' } as const,
    ];
    const rows = [
      ['a', 'symlink', false, '../t'],
      ['b/ü "q"', 'file', true, sha256('x\n')],
    ];
    expect(treeDigest(entries)).toBe(digestJson({ format: 'airlock.tree/v1', entries: rows }));
  });

  it('rejects duplicate paths', () => {
    expect(() => treeDigest([file('a', '1'), file('a', '2')])).toThrow(/duplicate/);
  });
});

describe('AIRLOCK_VERSION', () => {
  it('is the version in package.json', async () => {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(AIRLOCK_VERSION).toBe(pkg.version);
  });
});
