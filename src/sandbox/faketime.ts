import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Debian/Ubuntu multiarch triplets by Node's `process.arch`. */
const TRIPLETS: Readonly<Record<string, string[]>> = {
  x64: ['x86_64-linux-gnu'],
  arm64: ['aarch64-linux-gnu'],
  arm: ['arm-linux-gnueabihf', 'arm-linux-gnueabi'],
  ia32: ['i386-linux-gnu'],
  ppc64: ['powerpc64le-linux-gnu', 'powerpc64-linux-gnu'],
  s390x: ['s390x-linux-gnu'],
  riscv64: ['riscv64-linux-gnu'],
  loong64: ['loongarch64-linux-gnu'],
  mips64el: ['mips64el-linux-gnuabi64'],
};

/**
 * The libfaketime of this machine's architecture, or undefined when none is
 * installed: `<root>/usr/lib/<triplet>/faketime/libfaketime.so.1` for the
 * triplets of `arch` (Debian multiarch), then the non-multiarch places
 * (`/usr/lib64/faketime`, `/usr/lib/faketime`). A library of another
 * architecture is never chosen: ld.so would refuse to preload it and say so
 * on every step's stderr.
 */
export function findLibfaketime(arch: string = process.arch, root = '/'): string | undefined {
  const lib = join(root, 'usr', 'lib');
  const known = TRIPLETS[arch];
  // An architecture without a known triplet: any multiarch directory naming it.
  const triplets =
    known ??
    (() => {
      try {
        return readdirSync(lib).filter((d) => d.startsWith(`${arch}-linux-`));
      } catch {
        return [];
      }
    })();
  const candidates = [
    ...triplets.map((t) => join(lib, t, 'faketime', 'libfaketime.so.1')),
    join(root, 'usr', 'lib64', 'faketime', 'libfaketime.so.1'),
    join(lib, 'faketime', 'libfaketime.so.1'),
  ];
  return candidates.find((c) => existsSync(c));
}
