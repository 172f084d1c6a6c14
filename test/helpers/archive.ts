// Hand-crafted tar archives for the extractor's safety tests: any name, type,
// link or mode, including ones packTarGz refuses to write.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { compareBytes } from '../../src/core/index.js';
import { BLOCK, TYPE, encodeHeader, paxRecord } from '../../src/archive/tar-header.js';

export interface RawEntry {
  name: string;
  type?: keyof typeof TYPE;
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  /** PAX records written in an 'x' header before this entry. */
  pax?: Record<string, string>;
}

/** A tar (gzipped unless `plain`) holding exactly `entries`, headers as given. */
export function rawTar(entries: RawEntry[], opts: { plain?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number): Buffer => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
  const push = (h: Parameters<typeof encodeHeader>[2], body?: Buffer): void => {
    const block = Buffer.alloc(BLOCK);
    encodeHeader(block, 0, h);
    parts.push(block);
    if (body) parts.push(body, pad(body.length));
  };
  for (const e of entries) {
    if (e.pax) {
      const body = Buffer.concat(Object.entries(e.pax).map(([k, v]) => paxRecord(k, v)));
      push(
        {
          name: Buffer.from('PaxHeaders/x'),
          mode: 0o644,
          size: body.length,
          mtime: 0,
          typeflag: TYPE.paxLocal,
        },
        body,
      );
    }
    const body = e.content === undefined ? undefined : Buffer.from(e.content);
    push(
      {
        name: Buffer.from(e.name),
        mode: e.mode ?? 0o644,
        size: body?.length ?? 0,
        mtime: 0,
        typeflag: TYPE[e.type ?? 'file'],
        ...(e.linkname === undefined ? {} : { linkname: Buffer.from(e.linkname) }),
      },
      body,
    );
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  const tar = Buffer.concat(parts);
  return opts.plain ? tar : gzipSync(tar);
}

/** An async byte source yielding `buf` in small pieces (exercises chunk boundaries). */
export async function* chunked(buf: Buffer, size = 700): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) {
    await Promise.resolve();
    yield buf.subarray(i, i + size);
  }
}

/** A fresh temp dir under os.tmpdir(); remove it with `cleanup`. */
export async function archiveTempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `airlock-archive-${label}-`));
}

export async function cleanup(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Every path under `dir` (relative, sorted, symlinks not followed). */
export async function listTree(dir: string): Promise<string[]> {
  const out = await readdir(dir, { recursive: true });
  return out.sort(compareBytes);
}
