/*
 * The tar header codec: POSIX ustar headers (512-byte blocks) plus the PAX
 * extended records Airlock needs, and the reading side of the GNU/PAX variants.
 *
 * airlock.tar/v1 (what packTarGz writes), e.g. for `bin/tool` in `bin/`:
 *
 *   [ustar "bin/"      typeflag '5' mode 0000755 uid/gid 0 uname/gname "" mtime=SOURCE_DATE_EPOCH]
 *   [ustar "bin/tool"  typeflag '0' mode 0000755 size=N ...] [N bytes, zero-padded to 512]
 *   [ustar "PaxHeaders/<base>" typeflag 'x'] [records "NN path=<long>\n"] [ustar header, name truncated]
 *        ^ only when the path does not fit name(100)+prefix(155), a link target exceeds
 *          100 bytes or a size exceeds 8 GiB; never atime/ctime/mtime records
 *   [two zero blocks]
 */

export const BLOCK = 512;

export const TYPE = {
  file: 0x30, // '0'
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  char: 0x33, // '3'
  block: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
  contiguous: 0x37, // '7'
  paxLocal: 0x78, // 'x'
  paxGlobal: 0x67, // 'g'
  gnuLongName: 0x4c, // 'L'
  gnuLongLink: 0x4b, // 'K'
} as const;

/** Largest value an 11-digit octal field holds (8 GiB - 1). */
export const MAX_OCTAL_11 = 0o77777777777;

export interface HeaderFields {
  /** name field bytes (≤ 100). */
  name: Buffer;
  /** prefix field bytes (≤ 155). */
  prefix?: Buffer;
  mode: number;
  size: number;
  mtime: number;
  typeflag: number;
  /** linkname field bytes (≤ 100). */
  linkname?: Buffer;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
}

/** Writes `value` as zero-padded octal of `digits` digits followed by NUL at buf[off]. */
function writeOctal(buf: Buffer, off: number, digits: number, value: number): void {
  const text = value.toString(8).padStart(digits, '0');
  buf.write(text, off, digits, 'latin1');
  buf[off + digits] = 0;
}

/**
 * Encodes one ustar header block into `buf` at `off` (the block must already be
 * zero-filled); the result is fully determined by `h`, with empty uname/gname.
 */
export function encodeHeader(buf: Buffer, off: number, h: HeaderFields): void {
  h.name.copy(buf, off, 0, Math.min(100, h.name.length));
  writeOctal(buf, off + 100, 7, h.mode);
  writeOctal(buf, off + 108, 7, h.uid ?? 0);
  writeOctal(buf, off + 116, 7, h.gid ?? 0);
  writeOctal(buf, off + 124, 11, h.size);
  writeOctal(buf, off + 136, 11, h.mtime);
  buf[off + 156] = h.typeflag;
  if (h.linkname) h.linkname.copy(buf, off + 157, 0, Math.min(100, h.linkname.length));
  buf.write('ustar\u000000', off + 257, 8, 'latin1');
  if (h.devmajor !== undefined) writeOctal(buf, off + 329, 7, h.devmajor);
  if (h.devminor !== undefined) writeOctal(buf, off + 337, 7, h.devminor);
  if (h.prefix) h.prefix.copy(buf, off + 345, 0, Math.min(155, h.prefix.length));
  // The checksum is computed with its own field read as eight spaces.
  buf.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = off; i < off + BLOCK; i++) sum += buf[i]!;
  writeOctal(buf, off + 148, 6, sum);
  buf[off + 155] = 0x20;
}

/**
 * Splits a path's bytes into ustar prefix and name, or returns undefined when it
 * cannot fit (name ≤ 100 bytes, prefix ≤ 155 bytes, split at a '/').
 */
export function splitUstarPath(path: Buffer): { name: Buffer; prefix?: Buffer } | undefined {
  if (path.length <= 100) return { name: path };
  // The shortest prefix whose remainder fits the name field; the name must not be empty.
  for (let i = path.indexOf(0x2f); i !== -1; i = path.indexOf(0x2f, i + 1)) {
    if (i > 155) return undefined;
    const rest = path.length - i - 1;
    if (rest <= 100 && rest > 0 && !(rest === 1 && path[i + 1] === 0x2f)) {
      return { prefix: path.subarray(0, i), name: path.subarray(i + 1) };
    }
  }
  return undefined;
}

/** One PAX record "<len> <key>=<value>\n", whose length counts its own digits. */
export function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body, 'utf8');
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, 'utf8');
}

/** Parses the body of a PAX extended header into key/value pairs; undefined when malformed. */
export function parsePax(body: Buffer): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) break;
    const space = body.indexOf(0x20, pos);
    if (space === -1) return undefined;
    const len = Number.parseInt(body.toString('latin1', pos, space), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > body.length) return undefined;
    const record = body.subarray(space + 1, pos + len);
    if (record[record.length - 1] !== 0x0a) return undefined;
    const eq = record.indexOf(0x3d);
    if (eq === -1) return undefined;
    out.set(record.toString('utf8', 0, eq), record.toString('utf8', eq + 1, record.length - 1));
    pos += len;
  }
  return out;
}

export interface DecodedHeader {
  name: string;
  linkname: string;
  mode: number;
  size: number;
  typeflag: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** Reads a NUL-terminated field as UTF-8. */
function readString(block: Buffer, off: number, len: number): string {
  const end = block.indexOf(0, off);
  return block.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

/** Reads an octal field (or GNU base-256 when the high bit is set); NaN when malformed. */
function readNumber(block: Buffer, off: number, len: number): number {
  const first = block[off]!;
  if (first & 0x80) {
    if (first !== 0x80) return Number.NaN; // negative or absurdly large
    let value = 0;
    for (let i = off + 1; i < off + len; i++) value = value * 256 + block[i]!;
    return Number.isSafeInteger(value) ? value : Number.NaN;
  }
  const text = block
    .toString('latin1', off, off + len)
    .replace(/\0.*$/s, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return Number.parseInt(text, 8);
}

/** True when every byte of the block is zero (the end-of-archive marker). */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Decodes one header block; returns undefined when its checksum (unsigned or the
 * historic signed sum) or a numeric field is invalid.
 */
export function decodeHeader(block: Buffer): DecodedHeader | undefined {
  const stored = readNumber(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) return undefined;
  const mode = readNumber(block, 100, 8);
  const size = readNumber(block, 124, 12);
  const uid = readNumber(block, 108, 8);
  const gid = readNumber(block, 116, 8);
  const mtime = readNumber(block, 136, 12);
  if ([mode, size, uid, gid, mtime].some((n) => Number.isNaN(n))) return undefined;
  let name = readString(block, 0, 100);
  // POSIX ustar ("ustar\0") has a prefix field; the old GNU magic ("ustar  ") does not.
  if (block.toString('latin1', 257, 263) === 'ustar\u0000') {
    const prefix = readString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return {
    name,
    linkname: readString(block, 157, 100),
    mode,
    size,
    typeflag: block[156]!,
    uid,
    gid,
    mtime,
  };
}
