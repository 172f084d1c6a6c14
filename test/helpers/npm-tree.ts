import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { compareBytes } from '../../src/core/compare.js';
import { npmEnv } from './verdaccio.js';

const exec = promisify(execFile);

/** One entry of a test tarball, with the mode and type it is packed with. */
export interface TarEntry {
  name: string;
  content?: string | Buffer;
  mode?: number;
  type?: 'file' | 'directory' | 'symlink';
  linkname?: string;
}

/** A tarball packed exactly as given (npm pack would normalise modes; registries serve what was published). */
export async function tarballOf(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      type,
      ...(e.linkname ? { linkname: e.linkname } : {}),
    };
    if (type === 'file') p.entry(header, e.content ?? '');
    else p.entry(header);
  }
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

export const sri = (b: Buffer): string =>
  `sha512-${createHash('sha512').update(b).digest('base64')}`;
export const sha256hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Fills an npm cache (content only, by integrity) so `npm ci --offline` finds every tarball. */
export async function npmCacheWith(cache: string, tarballs: Iterable<Buffer>): Promise<void> {
  for (const t of tarballs) {
    const hex = createHash('sha512').update(t).digest('hex');
    const to = join(
      cache,
      '_cacache',
      'content-v2',
      'sha512',
      hex.slice(0, 2),
      hex.slice(2, 4),
      hex.slice(4),
    );
    await mkdir(dirname(to), { recursive: true });
    await writeFile(to, t);
  }
}

/** Runs the real `npm ci --offline --ignore-scripts` in `dir` with umask 022 and the given cache. */
export async function realNpmCi(dir: string, cache: string): Promise<void> {
  await exec(
    'sh',
    [
      '-c',
      'umask 022 && exec npm ci --offline --ignore-scripts --no-audit --no-fund --update-notifier=false --userconfig /dev/null --cache "$1" --logs-dir "$1/_logs"',
      'sh',
      cache,
    ],
    { cwd: dir, env: npmEnv() },
  );
}

/** Every path under `root` with its kind, permission bits, and content digest or link target. */
export async function describeTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort(compareBytes);
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const abs = join(root, r);
      const st = await lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`link ${r} -> ${await readlink(abs)}`);
      else if (st.isDirectory()) {
        out.push(`dir  ${r} ${mode}`);
        await walk(r);
      } else if (st.isFile())
        out.push(`file ${r} ${mode} ${sha256hex(await readFile(abs)).slice(0, 16)}`);
      else out.push(`other ${r}`);
    }
  };
  await walk('');
  return out;
}

/** Stores tarballs as `<dir>/<sha256 hex>` (a stand-in for the store's blob layout). */
export async function storeTarballs(
  dir: string,
  tarballs: Iterable<Buffer>,
): Promise<Map<string, { path: string; sha256: `sha256:${string}` }>> {
  await mkdir(dir, { recursive: true });
  const byIntegrity = new Map<string, { path: string; sha256: `sha256:${string}` }>();
  for (const t of tarballs) {
    const hex = sha256hex(t);
    const path = join(dir, hex);
    await writeFile(path, t);
    byIntegrity.set(sri(t), { path, sha256: `sha256:${hex}` });
  }
  return byIntegrity;
}
