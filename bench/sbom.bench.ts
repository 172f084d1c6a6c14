// Benchmark: an SBOM for a 500-package npm lock, Airlock's builders against
// `cyclonedx-npm --package-lock-only` on the same package-lock.json. Both run as
// a fresh Node process (start-up included), reading the lock and writing CycloneDX JSON.
// Run with: npx tsx bench/sbom.bench.ts (after `npm run build`: Airlock's side runs dist/).
// Knobs (env): AIRLOCK_BENCH_RUNS (default 5), AIRLOCK_BENCH_PACKAGES (default 500).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  fmtMs,
  fmtRatios,
  machineNote,
  median,
  printTable,
  roundRatios,
  runOk,
  verdict,
} from './lib/measure.js';

const envInt = (name: string, dflt: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = envInt('AIRLOCK_BENCH_RUNS', 5);
const PACKAGES = envInt('AIRLOCK_BENCH_PACKAGES', 500);
const REPO = resolve(import.meta.dirname, '..');

/** A lockfileVersion 3 package-lock.json of `n` packages, each depending on the next two. */
function lock(n: number): object {
  const name = (i: number): string => `pkg-${String(i).padStart(4, '0')}`;
  const packages: Record<string, object> = {
    '': { name: 'bench-app', version: '1.0.0', dependencies: { [name(0)]: '1.0.0' } },
  };
  for (let i = 0; i < n; i++) {
    const deps = [i + 1, i + 2].filter((j) => j < n).map((j) => [name(j), '1.0.0']);
    packages[`node_modules/${name(i)}`] = {
      version: '1.0.0',
      resolved: `https://registry.npmjs.org/${name(i)}/-/${name(i)}-1.0.0.tgz`,
      integrity: `sha512-${createHash('sha512').update(name(i)).digest('base64')}`,
      license: 'MIT',
      ...(deps.length ? { dependencies: Object.fromEntries(deps) } : {}),
    };
  }
  return { name: 'bench-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

// Airlock's side: read the lock, map its entries to LockFacts, write CycloneDX JSON.
const AIRLOCK_SCRIPT = `
import { readFileSync, writeFileSync } from 'node:fs';
import { cyclonedxJson, sbomModel } from ${JSON.stringify(join(REPO, 'dist', 'attest', 'index.js'))};
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const lockFacts = Object.entries(lock.packages).filter(([p]) => p.startsWith('node_modules/')).map(([p, e]) => ({
  kind: 'npm', name: p.slice('node_modules/'.length), version: e.version, integrity: e.integrity,
  license: e.license, dependsOn: Object.entries(e.dependencies ?? {}).map(([n, v]) => n + '@' + v),
}));
const d = 'sha256:' + '0'.repeat(64);
const facts = { project: 'bench', target: 'app', artifact: { name: 'bench/app', digest: d }, actionKey: d,
  configDigest: d, sourceDateEpoch: 0, airlockVersion: '0.1.0', sandboxProfile: d, platform: { os: 'linux', arch: 'amd64' },
  toolchain: [], inputTree: d, inputs: [], deps: [], lock: lockFacts, logs: [] };
writeFileSync('airlock.cdx.json', cyclonedxJson(sbomModel(facts, { name: 'airlock', version: '0.1.0' })));
`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sbom-bench-'));
  try {
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'bench-app', version: '1.0.0' }),
    );
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lock(PACKAGES), null, 2));
    writeFileSync(join(dir, 'airlock-sbom.mjs'), AIRLOCK_SCRIPT);
    const cdxNpm = join(REPO, 'node_modules', '.bin', 'cyclonedx-npm');
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const a = await runOk(process.execPath, ['airlock-sbom.mjs'], { cwd: dir });
      const b = await runOk(
        cdxNpm,
        [
          '--package-lock-only',
          '--output-format',
          'JSON',
          '--output-file',
          'npm.cdx.json',
          '--spec-version',
          '1.6',
        ],
        { cwd: dir },
      );
      if (i === 0) continue; // warm-up
      ours.push(a.ms);
      theirs.push(b.ms);
    }
    // Both documents must list every package, or the comparison means nothing.
    for (const file of ['airlock.cdx.json', 'npm.cdx.json']) {
      const doc = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { components?: unknown[] };
      if ((doc.components?.length ?? 0) < PACKAGES)
        throw new Error(`${file} lists ${doc.components?.length ?? 0} components, not ${PACKAGES}`);
    }
    const row = (what: string, xs: number[]): string[] => {
      const s = [...xs].sort((x, y) => x - y);
      return [what, fmtMs(s[0]!), fmtMs(median(s)), fmtMs(s[s.length - 1]!)];
    };
    console.log(
      `SBOM of a ${PACKAGES}-package lock, ${RUNS} runs after 1 warm-up (${machineNote()})`,
    );
    printTable(
      ['what', 'min', 'median', 'max'],
      [
        row('airlock (sbomModel + cyclonedxJson, fresh node)', ours),
        row('cyclonedx-npm --package-lock-only', theirs),
      ],
    );
    const ratios = roundRatios(ours, theirs);
    console.log(
      `airlock vs cyclonedx-npm per round (min / median / max): ${fmtRatios(ratios)}; ${verdict(ratios, 1.0, 'max')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
