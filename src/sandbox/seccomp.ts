/**
 * The seccomp filter every step runs under, as the classic-BPF program bwrap's
 * `--seccomp FD` loads. It denies with EPERM what would let a step stop or
 * rewrite the sandbox's init (pid 1 inside, which reaps every process and
 * reports the exit status): `ptrace` and `process_vm_writev` aimed at pid 1,
 * for the native ABI and the 32-bit compat one (and every x32 syscall on
 * x86_64, an ABI nothing in a build uses). Everything else is allowed.
 * Pure: the program depends only on the architecture.
 */

/** One BPF instruction before its jumps are resolved: targets are labels. */
type Insn =
  | { op: 'ld'; offset: number }
  | { op: 'jeq' | 'jge'; k: number; then: string; else?: string }
  | { op: 'ret'; k: number }
  | { label: string };

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_EPERM = 0x00050000 | 1;
/** Offsets in struct seccomp_data: nr, arch, then args[6] as u64 (low half first on little-endian). */
const NR = 0;
const ARCH = 4;
const arg = (n: number): number => 16 + 8 * n;

interface Abi {
  audit: number;
  ptrace: number;
  processVmWritev: number;
  /** Deny every syscall number at or above this (x32 on x86_64). */
  denyFrom?: number;
}

/** Little-endian architectures only: the low half of each argument is read at its offset. */
const ABIS: Readonly<Record<string, readonly Abi[]>> = {
  x64: [
    { audit: 0xc000003e, ptrace: 101, processVmWritev: 311, denyFrom: 0x40000000 },
    { audit: 0x40000003, ptrace: 26, processVmWritev: 348 },
  ],
  arm64: [
    { audit: 0xc00000b7, ptrace: 117, processVmWritev: 271 },
    { audit: 0x40000028, ptrace: 26, processVmWritev: 377 },
  ],
};

/** What the filter denies, for the sandbox profile (and so the action key). */
export const SECCOMP_POLICY = {
  deny: ['ptrace(pid 1)', 'process_vm_writev(pid 1)', 'x32 syscalls'],
  action: 'EPERM',
  otherwise: 'allow',
} as const;

function program(abis: readonly Abi[]): Insn[] {
  const p: Insn[] = [{ op: 'ld', offset: ARCH }];
  abis.forEach((_, i) => p.push({ op: 'jeq', k: abis[i]!.audit, then: `abi${i}` }));
  p.push({ op: 'ret', k: RET_ALLOW });
  abis.forEach((abi, i) => {
    p.push({ label: `abi${i}` }, { op: 'ld', offset: NR });
    if (abi.denyFrom !== undefined) p.push({ op: 'jge', k: abi.denyFrom, then: 'deny' });
    p.push(
      { op: 'jeq', k: abi.ptrace, then: 'pid-in-arg1' },
      { op: 'jeq', k: abi.processVmWritev, then: 'pid-in-arg0' },
      { op: 'ret', k: RET_ALLOW },
    );
  });
  p.push(
    { label: 'pid-in-arg1' },
    { op: 'ld', offset: arg(1) },
    { op: 'jeq', k: 1, then: 'deny', else: 'allow' },
    { label: 'pid-in-arg0' },
    { op: 'ld', offset: arg(0) },
    { op: 'jeq', k: 1, then: 'deny', else: 'allow' },
    { label: 'allow' },
    { op: 'ret', k: RET_ALLOW },
    { label: 'deny' },
    { op: 'ret', k: RET_EPERM },
  );
  return p;
}

/** Encodes `insns` as struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k; little-endian). */
function assemble(insns: readonly Insn[]): Buffer {
  const at = new Map<string, number>();
  const real = insns.filter((i) => {
    if ('label' in i) {
      at.set(i.label, insns.slice(0, insns.indexOf(i)).filter((x) => !('label' in x)).length);
      return false;
    }
    return true;
  });
  const out = Buffer.alloc(real.length * 8);
  real.forEach((insn, pc) => {
    const jump = (label: string | undefined): number => {
      if (label === undefined) return 0;
      const to = at.get(label);
      if (to === undefined || to <= pc || to - pc - 1 > 255)
        throw new Error(`bad jump to ${label}`);
      return to - pc - 1;
    };
    let code = 0;
    let jt = 0;
    let jf = 0;
    let k = 0;
    if ('op' in insn) {
      if (insn.op === 'ld') {
        code = BPF_LD_W_ABS;
        k = insn.offset;
      } else if (insn.op === 'ret') {
        code = BPF_RET_K;
        k = insn.k;
      } else {
        code = insn.op === 'jeq' ? BPF_JEQ_K : BPF_JGE_K;
        k = insn.k;
        jt = jump(insn.then);
        jf = jump(insn.else);
      }
    }
    out.writeUInt16LE(code, pc * 8);
    out.writeUInt8(jt, pc * 8 + 2);
    out.writeUInt8(jf, pc * 8 + 3);
    out.writeUInt32LE(k >>> 0, pc * 8 + 4);
  });
  return out;
}

/** The compiled filter for Node's `process.arch`, or undefined where Airlock has none (the step then runs without it). */
export function seccompFilter(arch: string): Buffer | undefined {
  const abis = ABIS[arch];
  return abis === undefined ? undefined : assemble(program(abis));
}
