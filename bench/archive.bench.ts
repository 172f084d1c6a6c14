// Benchmark: packTarGz (drained to a file, hashing included) against
// `tar --sort=name … | gzip -n` over the same tree of ~10k small files and a few large ones.
// Run with: npm run bench -- archive
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { packTarGz, type PackEntry } from '../src/archive/index.js';
import {
  fmtRatios,
  fmtSpread,
  machineNote,
  printTable,
  roundRatios,
  verdict,
} from './lib/measure.js';

const SMALL_FILES = 10_000;
const LARGE_FILES = [8, 16, 32].map((mib) => mib * 1024 * 1024);
const RUNS = 5;

/** Text-like content that compresses like source code does, not like zeros or noise. */
function content(n: number, seed: number): Buffer {
  const words = ['const', 'function', 'return', 'import', 'export', '{', '}', ';', '\n', 'x', '=>'];
  const parts: string[] = [];
  let len = 0;
  let s = seed;
  while (len < n) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const w = words[s % words.length]!;
    parts.push(w, s % 7 === 0 ? `${s}` : ' ');
    len += w.length + 1;
  }
  return Buffer.from(parts.join('').slice(0, n));
}

async function buildTree(root: string): Promise<PackEntry[]> {
  const entries: PackEntry[] = [];
  for (let i = 0; i < SMALL_FILES; i++) {
    const rel = `pkg${i % 100}/dir${i % 7}/file${i}.js`;
    const abs = join(root, rel);
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, content(200 + (i % 50) * 60, i));
    entries.push({ path: rel, kind: 'file', absPath: abs, executable: i % 13 === 0 });
  }
  for (const [i, size] of LARGE_FILES.entries()) {
    const rel = `large/blob${i}.bin`;
    const abs = join(root, rel);
    await mkdir(join(abs, '..'), { recursive: true });
    // Half noise, half text: neither trivially compressible nor incompressible.
    await writeFile(abs, Buffer.concat([randomBytes(size / 2), content(size / 2, i)]));
    entries.push({ path: rel, kind: 'file', absPath: abs, executable: false });
  }
  return entries;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-archive-bench-'));
  try {
    const tree = join(dir, 'tree');
    const entries = await buildTree(tree);
    console.log(`tree: ${entries.length} files in ${tree}`);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      let t = process.hrtime.bigint();
      const { stream, result } = packTarGz(entries, { mtime: 0 });
      await pipeline(stream, createWriteStream(join(dir, 'ours.tar.gz')));
      await result;
      ours.push(Number(process.hrtime.bigint() - t) / 1e6);

      t = process.hrtime.bigint();
      execFileSync('bash', [
        '-c',
        `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "${tree}" -cf - . | gzip -n > "${join(dir, 'theirs.tar.gz')}"`,
      ]);
      theirs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const sizes = execFileSync('du', ['-b', join(dir, 'ours.tar.gz'), join(dir, 'theirs.tar.gz')], {
      encoding: 'utf8',
    });
    const ratios = roundRatios(ours, theirs);
    console.log(`${RUNS} rounds, min / median / max (${machineNote()})`);
    printTable(
      ['what', 'min / median / max'],
      [
        ['packTarGz (tar + gzip + sha256 of every file and of the tar)', fmtSpread(ours)],
        ['tar --sort=name | gzip -n', fmtSpread(theirs)],
        ['ratio per round', fmtRatios(ratios)],
      ],
    );
    console.log(`goal <= 1.00x: ${verdict(ratios, 1.0, 'max')}`);
    console.log(sizes.trim());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
