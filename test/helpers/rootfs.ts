// A tiny real toolchain image for the image-root tests: Debian's static
// busybox plus (optionally) the host `node` and the libraries `ldd` lists,
// laid out merged-/usr style, packed with src/archive and pushed as OCI.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { packTarGz, type PackEntry } from '../../src/archive/index.js';
import { sha256, type Digest } from '../../src/core/index.js';
import type { Descriptor } from '../../src/oci/index.js';
import type { RegistryClient } from '../../src/registry/index.js';
import { pushArtifact } from '../../src/registry/index.js';
import type { Store } from '../../src/store/index.js';

export const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'test', 'mkdir', 'touch', 'id', 'wc'];

/** Fails loudly (never skips) when busybox-static is missing: scripts/setup.sh installs it. */
export function requireBusybox(): void {
  if (!existsSync(BUSYBOX))
    throw new Error(
      '/bin/busybox is missing: run scripts/setup.sh (apt-get install busybox-static)',
    );
}

/** The shared libraries and program interpreter of a dynamically linked binary, as real paths. */
function libraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

/** The entries of the toolchain root: busybox with applet links, optionally node and its libraries. */
export function toolchainEntries(opts: { node?: boolean; osRelease?: string } = {}): PackEntry[] {
  requireBusybox();
  const entries: PackEntry[] = [
    { path: 'bin', kind: 'symlink', target: 'usr/bin' },
    { path: 'lib', kind: 'symlink', target: 'usr/lib' },
    { path: 'usr/bin/busybox', kind: 'file', absPath: realpathSync(BUSYBOX), executable: true },
    ...APPLETS.map((a) => ({ path: `usr/bin/${a}`, kind: 'symlink' as const, target: 'busybox' })),
  ];
  if (opts.osRelease !== undefined) {
    const dir = join(realpathSync(process.env.TMPDIR ?? '/tmp'));
    const file = join(dir, `airlock-os-release-${sha256(opts.osRelease).slice(7, 23)}`);
    writeFileSync(file, opts.osRelease);
    entries.push({ path: 'etc/os-release', kind: 'file', absPath: file, executable: false });
  }
  if (opts.node === true) {
    const node = realpathSync(process.execPath);
    entries.push({ path: 'usr/bin/node', kind: 'file', absPath: node, executable: true });
    const seen = new Set<string>();
    for (const lib of libraries(node)) {
      const real = realpathSync(lib);
      // The file goes where the binary looks for it (its soname), with the real file's bytes.
      const inRoot = (lib.startsWith('/lib64/') ? real : lib).replace(
        /^\/(?:usr\/)?lib\//,
        'usr/lib/',
      );
      if (!inRoot.startsWith('usr/lib/') || seen.has(inRoot)) continue;
      seen.add(inRoot);
      entries.push({ path: inRoot, kind: 'file', absPath: real, executable: true });
      // The interpreter is found at the path the binary names (e.g. /lib64/ld-linux-x86-64.so.2).
      if (lib.startsWith('/lib64/')) {
        const at = lib.slice(1);
        entries.push({
          path: at,
          kind: 'symlink',
          target: relative(dirname(`/${at}`), `/${inRoot}`),
        });
      }
    }
  }
  return entries;
}

/** Writes `entries` into `dir` as a plain directory tree (for sandbox tests without a registry). */
export function writeRoot(dir: string, entries: readonly PackEntry[]): string {
  for (const e of entries) {
    const to = join(dir, e.path);
    mkdirSync(dirname(to), { recursive: true });
    if (e.kind === 'symlink') symlinkSync(e.target, to);
    else copyFileSync(e.absPath, to);
  }
  return dir;
}

const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const PLAIN_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * Stores an OCI image in `store` whose layers are packed from each entry list
 * (gzip level 1: the node binary is large) or given as raw tar(.gz) bytes.
 */
export async function storeImage(
  store: Store,
  layers: (PackEntry[] | Buffer)[],
): Promise<{ digest: Digest; descriptor: Descriptor; layers: Digest[] }> {
  const descs: { mediaType: string; digest: Digest; size: number }[] = [];
  const diffIds: Digest[] = [];
  for (const layer of layers) {
    if (Buffer.isBuffer(layer)) {
      // A raw layer: gzip or plain tar, labelled as what it is; its diff_id is the tar's digest.
      const gzip = layer[0] === 0x1f && layer[1] === 0x8b;
      const put = await store.putBytes(layer);
      diffIds.push(gzip ? sha256(gunzipSync(layer)) : put.digest);
      descs.push({ mediaType: gzip ? LAYER : PLAIN_LAYER, digest: put.digest, size: put.size });
      continue;
    }
    const packed = packTarGz(layer, { mtime: 0, level: 1 });
    const put = await store.putStream(packed.stream);
    diffIds.push((await packed.result).diffId);
    descs.push({ mediaType: LAYER, digest: put.digest, size: put.size });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const c = await store.putBytes(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: CONFIG, digest: c.digest, size: c.size },
      layers: descs,
    }),
  );
  const m = await store.putBytes(manifest);
  return {
    digest: m.digest,
    descriptor: { mediaType: MANIFEST, digest: m.digest, size: m.size },
    layers: descs.map((d) => d.digest),
  };
}

/** Stores the image (see storeImage) and pushes it to `repo` under `tag` with the real client. */
export async function pushToolchainImage(
  store: Store,
  client: RegistryClient,
  repo: string,
  layers: (PackEntry[] | Buffer)[],
  tag = 'latest',
): Promise<{ digest: Digest; descriptor: Descriptor }> {
  const image = await storeImage(store, layers);
  await pushArtifact(client, repo, store, image.descriptor, tag, { attachments: false });
  return image;
}
