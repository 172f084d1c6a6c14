// What a build that is not a no-op costs for its stamp and its audit checkpoint: the stamp
// takes what hashing and the build already know (signatures, digests) instead of reading
// the project again, and each shortcut is checked by the stamp's check, not trusted.
import { createRequire } from 'node:module';
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  STAMP_FORMAT,
  checkStamp,
  fileDigest,
  newCover,
  notBefore,
  stampRefusal,
  stampText,
  writeStamp,
  type StampHeader,
} from '../src/pipeline/build-stamp.js';
import { runCli, tempDir } from './helpers/cli.js';
import { writeProject } from './helpers/e2e.js';

function header(t0Ns: bigint): StampHeader {
  return {
    format: STAMP_FORMAT,
    key: 'k',
    t0Ns: t0Ns.toString(),
    commit: null,
    project: 'p',
    root: '/',
    stdout: '',
    render: { json: false, color: false },
    queued: [],
    finished: [],
    audit: { targets: [], schedule: { checkpointEntries: 0, checkpointIntervalMs: 0 } },
  };
}

const sigOf = (abs: string): string => {
  const st = lstatSync(abs, { bigint: true });
  return `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${st.dev}:${st.mode}`;
};

describe('the stamp of a build', () => {
  const tmp = tempDir('stamp-writer');
  afterAll(() => tmp.cleanup());

  it('expects the digest the build wrote for a file changed during it, without reading the file; the check reads it', () => {
    const dir = join(tmp.path, 'racy');
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'bundle.js');
    writeFileSync(out, 'what the build wrote\n');
    const wrote = fileDigest(out);
    // Changed after the build wrote it, within the racy window (its ctime is now).
    writeFileSync(out, 'what someone wrote after\n');
    const cover = newCover();
    cover.paths.set(out, { digest: wrote, kind: 'f' });
    const text = stampText(header(BigInt(Date.now()) * 1_000_000n), cover);
    expect(text, stampRefusal()).toBeDefined();
    const line = text!.split('\n')[1]!.split('\t');
    // The build's digest, neither "-" (trust the stat) nor the bytes found now.
    expect(line[0]).toBe('f');
    expect(line[2]).toBe(wrote);
    expect(line[2]).not.toBe(fileDigest(out));
    const stamp = join(dir, 'k.stamp');
    writeStamp(stamp, text!);
    expect(checkStamp(stamp, 'k')).toBeUndefined();
    expect(stampRefusal()).toBe(`${out} changed (content)`);
    // The bytes the build wrote back: the check passes.
    writeFileSync(out, 'what the build wrote\n');
    const again = stampText(header(BigInt(Date.now()) * 1_000_000n), cover);
    writeStamp(stamp, again!);
    expect(checkStamp(stamp, 'k')).toBeDefined();
  });

  it('keeps the signature a source was hashed under, so a change after hashing fails the check', () => {
    const dir = join(tmp.path, 'hashed');
    mkdirSync(dir, { recursive: true });
    const src = join(dir, 'f.js');
    writeFileSync(src, 'one\n');
    const hashed = { digest: fileDigest(src), sig: sigOf(src) };
    // Changed after hashing read it.
    writeFileSync(src, 'three\n');
    const cover = newCover();
    cover.paths.set(src, hashed);
    // A build that begins an hour from now: no entry is racy, so nothing is read at the
    // check either; only the signature can tell the change.
    const text = stampText(header((BigInt(Date.now()) + 3_600_000n) * 1_000_000n), cover);
    expect(text, stampRefusal()).toBeDefined();
    expect(text!.split('\n')[1]).toBe(`f\t${hashed.sig}\t-\t${src}`);
    const stamp = join(dir, 'k.stamp');
    writeStamp(stamp, text!);
    expect(checkStamp(stamp, 'k')).toBeUndefined();
    expect(stampRefusal()).toBe(`${src} changed`);
  });

  it('vouches for a file hashed within the racy window by the digest hashing read', () => {
    const dir = join(tmp.path, 'hashed-racy');
    mkdirSync(dir, { recursive: true });
    const src = join(dir, 'f.js');
    writeFileSync(src, 'one\n');
    const hashed = { digest: fileDigest(src), sig: sigOf(src) };
    const cover = newCover();
    cover.paths.set(src, hashed);
    const text = stampText(header(BigInt(Date.now()) * 1_000_000n), cover);
    expect(text!.split('\n')[1]).toBe(`f\t${hashed.sig}\t${hashed.digest}\t${src}`);
  });
});

describe('the racy rule on a signature hashing recorded', () => {
  it('compares nanosecond times as numbers, without parsing them', () => {
    const t = '1796001152480015362';
    expect(notBefore(t, t)).toBe(true);
    expect(notBefore('1796001152480015363', t)).toBe(true);
    expect(notBefore('1796001152480015361', t)).toBe(false);
    // Fewer digits is earlier, whatever the first digit says.
    expect(notBefore('99', '100')).toBe(false);
    expect(notBefore('100', '99')).toBe(true);
    expect(notBefore('0', '1')).toBe(false);
    // Anything that is not such a number is taken as changed during the build (checked by content).
    for (const odd of ['', '-5', '012', '1e3', ' 1'])
      expect(notBefore(odd, '1000'), JSON.stringify(odd)).toBe(true);
  });
});

describe('a build whose audit checkpoint is due and no key is set', () => {
  const tmp = tempDir('checkpoint-keyless');
  afterAll(() => tmp.cleanup());

  it('says so as the audit does, and loads no signing code', async () => {
    const project = writeProject(
      join(tmp.path, 'p'),
      `version: 1
name: p
sourceDateEpoch: 1700000000
audit:
  checkpoint:
    entries: 1
targets:
  a:
    sources: ["a.txt"]
    steps: ["mkdir -p out && cp a.txt out/"]
    outputs: ["out/**"]
`,
    );
    const store = join(tmp.path, 'store');
    const r = await runCli(['--store', store, 'build', '-C', project]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /audit: no checkpoint since entry 0: entries 1–1 are not protected against a cut-off or rewrite; no signing key is configured \(set audit\.signingKey in airlock\.yaml to sign checkpoints\)/,
    );
    expect(readFileSync(join(project, 'out', 'a.txt'), 'utf8')).toBe('hello\n');
    // CommonJS packages loaded by this worker are listed here: the signing library is not.
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.filter((f) => f.includes('@sigstore/sign'))).toEqual([]);
  });
});
