import { describe, expect, it } from 'vitest';
import { seccompFilter } from './seccomp.js';

/** Runs a classic-BPF seccomp program over one syscall, as the kernel would. */
function run(prog: Buffer, data: { arch: number; nr: number; args: number[] }): number {
  const word = (offset: number): number => {
    if (offset === 0) return data.nr;
    if (offset === 4) return data.arch;
    const i = (offset - 16) / 8;
    return data.args[i] ?? 0;
  };
  let acc = 0;
  for (let pc = 0; pc * 8 < prog.length;) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) {
      acc = word(k);
      pc++;
    } else if (code === 0x06) return k;
    else if (code === 0x15) pc += 1 + (acc === k ? jt : jf);
    else if (code === 0x35) pc += 1 + (acc >= k ? jt : jf);
    else throw new Error(`unexpected opcode ${code}`);
  }
  throw new Error('fell off the end');
}

const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const X86_64 = 0xc000003e;
const I386 = 0x40000003;

describe('seccompFilter', () => {
  const prog = seccompFilter('x64')!;

  it('denies ptrace and process_vm_writev of pid 1 with EPERM, natively and through the 32-bit ABI', () => {
    expect(run(prog, { arch: X86_64, nr: 101, args: [16, 1] })).toBe(EPERM);
    expect(run(prog, { arch: X86_64, nr: 311, args: [1] })).toBe(EPERM);
    expect(run(prog, { arch: I386, nr: 26, args: [16, 1] })).toBe(EPERM);
    expect(run(prog, { arch: I386, nr: 348, args: [1] })).toBe(EPERM);
  });

  it('allows ptrace of any other pid and every other syscall', () => {
    expect(run(prog, { arch: X86_64, nr: 101, args: [16, 42] })).toBe(ALLOW);
    expect(run(prog, { arch: X86_64, nr: 311, args: [42] })).toBe(ALLOW);
    expect(run(prog, { arch: X86_64, nr: 0, args: [1] })).toBe(ALLOW);
    expect(run(prog, { arch: I386, nr: 101, args: [1, 1] })).toBe(ALLOW);
  });

  it('denies every x32 syscall', () => {
    expect(run(prog, { arch: X86_64, nr: 0x40000000 + 521, args: [16, 1] })).toBe(EPERM);
  });

  it('has a filter for arm64 and none for big-endian or unknown architectures', () => {
    const arm = seccompFilter('arm64')!;
    expect(run(arm, { arch: 0xc00000b7, nr: 117, args: [16, 1] })).toBe(EPERM);
    expect(run(arm, { arch: 0xc00000b7, nr: 117, args: [16, 2] })).toBe(ALLOW);
    expect(seccompFilter('s390x')).toBeUndefined();
  });
});
