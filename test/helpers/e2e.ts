// Shared helpers for the end-to-end CLI tests (repro, errors, cli).
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { REPO, airlock, runCli } from './cli.js';

/** The directory of the e2e fixture projects. */
export const E2E_FIXTURES = join(REPO, 'test', 'fixtures', 'e2e');

/** Any ANSI escape sequence (CSI or a lone ESC), colour or cursor movement. */
// eslint-disable-next-line no-control-regex -- matching the ESC byte is the point
export const ANSI = /\x1b[[\]()#;?0-9A-Za-z]/;

/** Copies the fixture project `name` under test/fixtures/e2e to `dest` and returns `dest`. */
export function copyFixture(name: string, dest: string): string {
  cpSync(join(E2E_FIXTURES, name), dest, { recursive: true });
  return dest;
}

/** Writes a project made of `airlock.yaml` text plus `files` (relative path → content) into `dir`. */
export function writeProject(
  dir: string,
  yaml: string,
  files: Record<string, string> = { 'a.txt': 'hello\n' },
): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'airlock.yaml'), yaml);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** The report of `airlock store fsck --json`. */
export interface FsckReport {
  ok: boolean;
  blobsChecked: number;
  corrupt: number;
  dangling: number;
  leftoverTmp: number;
  problems: { kind: string; message: string }[];
}

/** Runs `store fsck --json` on `store` and returns its exit status and parsed report. */
export function fsck(store: string): { status: number; report: FsckReport } {
  const r = airlock(['--json', '--store', store, 'store', 'fsck', '--no-repair']);
  return { status: r.status, report: JSON.parse(r.stdout) as FsckReport };
}

/** `fsck` run in this worker (`runCli`) instead of a process of its own. */
export async function fsckInProcess(
  store: string,
): Promise<{ status: number; report: FsckReport }> {
  const r = await runCli(['--json', '--store', store, 'store', 'fsck', '--no-repair']);
  return { status: r.status, report: JSON.parse(r.stdout) as FsckReport };
}

/** The parsed `{ ok: false, error }` document a failing command prints with --json. */
export interface JsonError {
  ok: false;
  error: { code: string; message: string; hint?: string; details?: Record<string, unknown> };
}

/** Parses stdout as exactly one JSON document (throws on anything else). */
export function parseJson<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

/**
 * Every blob of the store as text, gzip blobs (layers) decompressed, keyed by
 * blob file name: what a leak check must search, since layers are compressed.
 */
export function storeBlobTexts(store: string): Map<string, string> {
  const dir = join(store, 'blobs', 'sha256');
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    let bytes = readFileSync(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    out.set(name, bytes.toString('latin1'));
  }
  return out;
}

/** Every regular file under `dir` (recursively) as text, keyed by relative path. */
export function treeTexts(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const d of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) walk(p);
      else if (d.isFile()) out.set(p, readFileSync(join(dir, p), 'latin1'));
    }
  };
  walk('');
  return out;
}
