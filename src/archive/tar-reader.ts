import { createReadStream } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { errnoCode } from '../core/index.js';
import { archiveError } from './errors.js';
import {
  BLOCK,
  TYPE,
  decodeHeader,
  isZeroBlock,
  parsePax,
  type DecodedHeader,
} from './tar-header.js';

/** Largest metadata body (PAX / GNU long name) accepted, against memory bombs. */
const MAX_META = 1 << 20;

function corrupt(message: string, details: Record<string, unknown> = {}, cause?: unknown): Error {
  return archiveError(
    'ARCHIVE_CORRUPT',
    message,
    'The archive is damaged or not a tar/tar.gz file; fetch or build it again.',
    details,
    cause,
  );
}

/** Pulls exact byte counts out of an async chunk source. */
class ByteReader {
  private readonly chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private buffered = 0;
  private ended = false;
  /** Bytes consumed so far (for error details). */
  offset = 0;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await this.source.next();
      } catch (err) {
        // zlib's errors (Z_DATA_ERROR, Z_BUF_ERROR …) mean bad data; I/O errors pass through.
        if (!errnoCode(err)?.startsWith('Z_')) throw err;
        throw corrupt(`cannot decompress archive: ${String(err)}`, { offset: this.offset }, err);
      }
      if (r.done) this.ended = true;
      else if (r.value.byteLength > 0) {
        this.chunks.push(Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength));
        this.buffered += r.value.byteLength;
      }
    }
  }

  /** Takes up to `n` buffered bytes (at least one when any are left), without copying when possible. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    const avail = first.length - this.head;
    let out: Buffer;
    if (avail <= n) {
      out = first.subarray(this.head);
      this.chunks.shift();
      this.head = 0;
    } else {
      out = first.subarray(this.head, this.head + n);
      this.head += n;
    }
    this.buffered -= out.length;
    this.offset += out.length;
    return out;
  }

  /** Exactly `n` bytes, or undefined at a clean end; a partial read is ARCHIVE_CORRUPT. */
  async read(n: number): Promise<Buffer | undefined> {
    await this.fill(n);
    if (this.buffered === 0) return undefined;
    if (this.buffered < n) throw corrupt('archive is truncated', { offset: this.offset });
    const first = this.take(n);
    if (first.length === n) return first;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const part = this.take(n - got);
      parts.push(part);
      got += part.length;
    }
    return Buffer.concat(parts, n);
  }

  /** Yields exactly `n` bytes in pieces; a short source is ARCHIVE_CORRUPT. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      await this.fill(1);
      if (this.buffered === 0) throw corrupt('archive is truncated', { offset: this.offset });
      const part = this.take(left);
      left -= part.length;
      yield part;
    }
  }

  async skip(n: number): Promise<void> {
    const it = this.stream(n);
    while (!(await it.next()).done) {
      // discard
    }
  }
}

/** One archive member with the extended headers that preceded it already applied. */
export interface TarMember extends DecodedHeader {
  /** The entry's data; consume it (or skip it) before asking for the next member. */
  body: () => AsyncGenerator<Buffer>;
}

/** What the reader checks about the bytes beneath the tar structure. */
export interface ReadMembersOptions {
  /**
   * What the source must be: `gzip` (refused without the gzip magic), `tar`
   * (refused with it), or `detect` (default: gzip when the magic says so).
   */
  compression?: 'gzip' | 'tar' | 'detect';
  /** Sees every decompressed byte, in order, to the very end of the source (for a diff_id). */
  onTarBytes?: (chunk: Uint8Array) => void;
  /**
   * Largest ratio of decompressed to compressed bytes accepted once more than
   * RATIO_FLOOR bytes came out: a decompression bomb is refused early (ARCHIVE_TOO_LARGE).
   */
  maxRatio?: number;
}

/** Below this many decompressed bytes the ratio is not judged (small files compress well). */
const RATIO_FLOOR = 256 << 20;

/** Turns a path or byte source into decompressed tar bytes, detecting gzip by its magic. */
async function* tarBytes(
  src: AsyncIterable<Uint8Array> | string,
  opts: ReadMembersOptions,
): AsyncGenerator<Uint8Array> {
  const input: AsyncIterable<Uint8Array> =
    typeof src === 'string' ? createReadStream(src, { highWaterMark: 1 << 20 }) : src;
  const it = input[Symbol.asyncIterator]();
  let compressed = 0;
  try {
    const head: Uint8Array[] = [];
    let len = 0;
    while (len < 2) {
      const r = await it.next();
      if (r.done) break;
      head.push(r.value);
      len += r.value.byteLength;
    }
    compressed = len;
    async function* all(): AsyncGenerator<Uint8Array> {
      yield* head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        compressed += r.value.byteLength;
        yield r.value;
      }
    }
    const first = head.length > 0 ? Buffer.concat(head) : Buffer.alloc(0);
    const gzip = first[0] === 0x1f && first[1] === 0x8b;
    const want = opts.compression ?? 'detect';
    if (want !== 'detect' && gzip !== (want === 'gzip')) {
      throw corrupt(
        want === 'gzip'
          ? 'the content is declared gzip-compressed but does not start with the gzip magic (1f 8b)'
          : 'the content is declared an uncompressed tar but starts with the gzip magic',
        { expected: want },
      );
    }
    const out: AsyncIterable<Uint8Array> = gzip
      ? pipeline(Readable.from(all()), createGunzip(), () => {})
      : all();
    let produced = 0;
    for await (const chunk of out) {
      produced += chunk.byteLength;
      if (gzip && opts.maxRatio !== undefined && produced > RATIO_FLOOR) {
        if (produced > opts.maxRatio * Math.max(compressed, 1)) {
          throw archiveError(
            'ARCHIVE_TOO_LARGE',
            `the archive expands more than ${opts.maxRatio} times (${produced} bytes from ${compressed} compressed so far): a decompression bomb`,
            'Do not unpack it. If the archive is genuine, raise the expansion limit (maxRatio / AIRLOCK_UNPACK_MAX_RATIO).',
            { limit: 'ratio', maxRatio: opts.maxRatio, produced, compressed },
          );
        }
      }
      opts.onTarBytes?.(chunk);
      yield chunk;
    }
  } finally {
    await it.return?.();
  }
}

/**
 * Iterates the members of a tar or tar.gz, verifying header checksums and
 * applying PAX and GNU long-name headers; metadata-only members are not yielded.
 */
export async function* readMembers(
  src: AsyncIterable<Uint8Array> | string,
  opts: ReadMembersOptions = {},
): AsyncGenerator<TarMember> {
  const bytes = tarBytes(src, opts);
  const reader = new ByteReader(bytes[Symbol.asyncIterator]());
  let global = new Map<string, string>();
  let local = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const at = reader.offset;
      const block = await reader.read(BLOCK);
      if (!block || isZeroBlock(block)) {
        // The rest (the second zero block, record padding) still counts for a digest of the stream.
        if (opts.onTarBytes) while (!(await bytes.next()).done);
        return;
      }
      const h = decodeHeader(block);
      if (!h) throw corrupt('tar header checksum or field is invalid', { offset: at });
      const padded = h.size + ((BLOCK - (h.size % BLOCK)) % BLOCK);
      const meta = async (): Promise<Buffer> => {
        if (h.size > MAX_META) throw corrupt('tar metadata header is too large', { offset: at });
        const body = h.size === 0 ? Buffer.alloc(0) : (await reader.read(padded))!;
        return body.subarray(0, h.size);
      };
      if (h.typeflag === TYPE.paxLocal || h.typeflag === TYPE.paxGlobal) {
        const records = parsePax(await meta());
        if (!records) throw corrupt('PAX extended header is malformed', { offset: at });
        if (h.typeflag === TYPE.paxGlobal) global = new Map([...global, ...records]);
        else local = new Map([...local, ...records]);
        continue;
      }
      if (h.typeflag === TYPE.gnuLongName || h.typeflag === TYPE.gnuLongLink) {
        const body = await meta();
        const end = body.indexOf(0);
        const text = body.toString('utf8', 0, end === -1 ? body.length : end);
        if (h.typeflag === TYPE.gnuLongName) longName = text;
        else longLink = text;
        continue;
      }
      const { member, dataSize } = finishMember(h, global, local, longName, longLink, at);
      local = new Map();
      longName = undefined;
      longLink = undefined;
      const bodyStart = reader.offset;
      const body = (): AsyncGenerator<Buffer> => reader.stream(dataSize);
      yield { ...member, size: dataSize, body };
      // Skip whatever data the consumer did not read.
      const left = dataSize - (reader.offset - bodyStart);
      if (left > 0) await reader.skip(left);
      await reader.skip((BLOCK - (dataSize % BLOCK)) % BLOCK);
    }
  } finally {
    await bytes.return(undefined);
  }
}

/**
 * A member's header with its GNU long name/link and PAX records applied
 * (local records over global ones), and how many data bytes follow it: one
 * set of rules for the streaming and the in-memory reader. Only regular files
 * carry data; other typeflags' size field is ignored (as tar does), except
 * for unknown types, whose data must be skipped to stay in step.
 */
function finishMember(
  h: DecodedHeader,
  global: ReadonlyMap<string, string>,
  local: ReadonlyMap<string, string>,
  longName: string | undefined,
  longLink: string | undefined,
  offset: number,
): { member: DecodedHeader; dataSize: number } {
  const ext = new Map([...global, ...local]);
  const member: DecodedHeader = { ...h };
  if (longName !== undefined) member.name = longName;
  if (longLink !== undefined) member.linkname = longLink;
  const path = ext.get('path');
  if (path !== undefined) member.name = path;
  const linkpath = ext.get('linkpath');
  if (linkpath !== undefined) member.linkname = linkpath;
  const size = ext.get('size');
  if (size !== undefined) {
    if (!/^[0-9]+$/.test(size) || !Number.isSafeInteger(Number(size)))
      throw corrupt('PAX size record is invalid', { offset });
    member.size = Number(size);
  }
  if (member.typeflag === 0) member.typeflag = TYPE.file;
  const dataSize =
    member.typeflag === TYPE.file || member.typeflag === TYPE.contiguous
      ? member.size
      : member.typeflag >= TYPE.hardlink && member.typeflag <= TYPE.fifo
        ? 0
        : member.size;
  return { member, dataSize };
}

/** A member of a tar held in memory: its header and its data (a view, not a copy). */
export type TarMemberBytes = DecodedHeader & { data: Buffer };

/**
 * The members of an uncompressed tar held in memory, read with the same
 * rules as readMembers (PAX and GNU long names, checksums, sizes): for small
 * archives unpacked synchronously, without a stream per member.
 */
export function* membersOf(tar: Buffer): Generator<TarMemberBytes> {
  let global = new Map<string, string>();
  let local = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let at = 0;
  const take = (n: number, what: string): Buffer => {
    if (at + n > tar.length) throw corrupt(`the archive ends inside ${what}`, { offset: at });
    const b = tar.subarray(at, at + n);
    at += n;
    return b;
  };
  for (;;) {
    if (at + BLOCK > tar.length) return; // no end-of-archive blocks: tar stops here too
    const start = at;
    const block = take(BLOCK, 'a header');
    if (isZeroBlock(block)) return;
    const h = decodeHeader(block);
    if (!h) throw corrupt('tar header checksum or field is invalid', { offset: start });
    const padded = h.size + ((BLOCK - (h.size % BLOCK)) % BLOCK);
    if (h.typeflag === TYPE.paxLocal || h.typeflag === TYPE.paxGlobal) {
      if (h.size > MAX_META) throw corrupt('tar metadata header is too large', { offset: start });
      const records = parsePax(take(padded, 'a PAX header').subarray(0, h.size));
      if (!records) throw corrupt('PAX extended header is malformed', { offset: start });
      if (h.typeflag === TYPE.paxGlobal) global = new Map([...global, ...records]);
      else local = new Map([...local, ...records]);
      continue;
    }
    if (h.typeflag === TYPE.gnuLongName || h.typeflag === TYPE.gnuLongLink) {
      if (h.size > MAX_META) throw corrupt('tar metadata header is too large', { offset: start });
      const body = take(padded, 'a long name').subarray(0, h.size);
      const end = body.indexOf(0);
      const text = body.toString('utf8', 0, end === -1 ? body.length : end);
      if (h.typeflag === TYPE.gnuLongName) longName = text;
      else longLink = text;
      continue;
    }
    const { member, dataSize } = finishMember(h, global, local, longName, longLink, start);
    local = new Map();
    longName = undefined;
    longLink = undefined;
    const data = take(dataSize, `the data of ${JSON.stringify(member.name)}`);
    at = Math.min(tar.length, at + ((BLOCK - (dataSize % BLOCK)) % BLOCK));
    yield { ...member, size: dataSize, data };
  }
}
