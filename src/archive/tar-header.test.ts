import { describe, expect, it } from 'vitest';
import {
  BLOCK,
  TYPE,
  decodeHeader,
  encodeHeader,
  paxRecord,
  parsePax,
  splitUstarPath,
} from './tar-header.js';

describe('splitUstarPath', () => {
  it('keeps paths of up to 100 bytes in the name field', () => {
    const p = Buffer.from('a'.repeat(100));
    expect(splitUstarPath(p)).toEqual({ name: p });
  });

  it('splits longer paths at a slash into prefix (≤155) and name (≤100)', () => {
    const p = Buffer.from(`${'a'.repeat(150)}/${'b'.repeat(100)}`);
    const split = splitUstarPath(p);
    expect(split?.prefix?.toString()).toBe('a'.repeat(150));
    expect(split?.name.toString()).toBe('b'.repeat(100));
  });

  it('gives up when no slash makes both parts fit', () => {
    expect(splitUstarPath(Buffer.from(`${'a'.repeat(156)}/b`))).toBeUndefined();
    expect(splitUstarPath(Buffer.from(`a/${'b'.repeat(101)}`))).toBeUndefined();
    expect(splitUstarPath(Buffer.from(`${'a'.repeat(120)}/`))).toBeUndefined();
  });
});

describe('paxRecord', () => {
  it('counts its own length digits, also across a digit boundary', () => {
    for (const n of [1, 85, 86, 87, 95, 96, 990, 991, 995]) {
      const rec = paxRecord('path', 'x'.repeat(n));
      const len = Number(rec.toString().split(' ')[0]);
      expect(len).toBe(rec.length);
      expect(parsePax(rec)?.get('path')).toBe('x'.repeat(n));
    }
  });

  it('is parsed back with multi-byte UTF-8 values', () => {
    const body = Buffer.concat([paxRecord('path', 'žluťoučký/kůň'), paxRecord('size', '9')]);
    expect([...parsePax(body)!]).toEqual([
      ['path', 'žluťoučký/kůň'],
      ['size', '9'],
    ]);
    expect(parsePax(Buffer.from('99 path=x\n'))).toBeUndefined();
  });
});

describe('encodeHeader / decodeHeader', () => {
  it('round-trips the fields and rejects a flipped byte by checksum', () => {
    const block = Buffer.alloc(BLOCK);
    encodeHeader(block, 0, {
      name: Buffer.from('name'),
      prefix: Buffer.from('pre/fix'),
      mode: 0o755,
      size: 12345,
      mtime: 1700000000,
      typeflag: TYPE.file,
      linkname: Buffer.from('target'),
    });
    expect(decodeHeader(block)).toEqual({
      name: 'pre/fix/name',
      linkname: 'target',
      mode: 0o755,
      size: 12345,
      typeflag: TYPE.file,
      uid: 0,
      gid: 0,
      mtime: 1700000000,
    });
    expect(block.toString('latin1', 257, 265)).toBe('ustar\u000000');
    expect(block.subarray(265, 329).every((b) => b === 0)).toBe(true); // empty uname/gname
    block[1] = 0x41;
    expect(decodeHeader(block)).toBeUndefined();
  });
});
