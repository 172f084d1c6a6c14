/** The OCI architecture name of a Node `process.arch`. */
export function ociArch(arch: string): string {
  return (
    (
      {
        x64: 'amd64',
        arm64: 'arm64',
        ia32: '386',
        arm: 'arm',
        ppc64: 'ppc64le',
        s390x: 's390x',
      } as Record<string, string>
    )[arch] ?? arch
  );
}
