import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findLibfaketime } from './faketime.js';

describe('findLibfaketime', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'airlock-faketime-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const install = (dir: string): string => {
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, dir, 'libfaketime.so.1'), '');
    return join(root, dir, 'libfaketime.so.1');
  };

  it('finds the multiarch library of the given architecture', () => {
    install('usr/lib/x86_64-linux-gnu/faketime');
    const arm = install('usr/lib/aarch64-linux-gnu/faketime');
    expect(findLibfaketime('arm64', root)).toBe(arm);
  });

  it('never picks another architecture’s library', () => {
    install('usr/lib/x86_64-linux-gnu/faketime');
    expect(findLibfaketime('arm64', root)).toBeUndefined();
  });

  it('falls back to the non-multiarch directories', () => {
    const plain = install('usr/lib/faketime');
    expect(findLibfaketime('riscv64', root)).toBe(plain);
    const lib64 = install('usr/lib64/faketime');
    expect(findLibfaketime('riscv64', root)).toBe(lib64);
  });

  it('finds this machine’s libfaketime (the faketime package is part of the test set-up)', () => {
    const found = findLibfaketime();
    expect(found).toMatch(/\/faketime\/libfaketime\.so\.1$/);
    expect(existsSync(found!)).toBe(true);
  });
});
