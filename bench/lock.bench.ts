// Benchmark: locked npm dependencies. For a generated lock of 500 packages
// served by a local verdaccio (and, when registry.npmjs.org answers, for
// examples/ts-service):
//   - `airlock fetch` cold (empty store) vs `npm ci` with an empty npm cache (goal <= 1.0x)
//   - offline install in the sandbox from a fetched store vs `npm ci --offline` warm (goal <= 1.0x)
//   - unchanged lock (`airlock build`, install cached) vs `npm ci --offline` warm (goal <= 0.1x)
//   - peak RSS of `airlock fetch` on the 500-package lock (it streams: flat, not per tarball)
// Prints min / median / max over rounds; a verdict only when the whole range of
// per-round ratios lies on one side of the goal.
// Run with: npx tsx bench/lock.bench.ts   Knobs: AIRLOCK_BENCH_RUNS (default 3), AIRLOCK_BENCH_NPM_PACKAGES (500)
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { npmEnv, startVerdaccio, type TestNpmRegistry } from '../test/helpers/verdaccio.js';
import {
  fmtMs,
  fmtRatios,
  fmtSpread,
  machineNote,
  printTable,
  roundRatios,
  runOk,
  verdict,
} from './lib/measure.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const AIRLOCK = join(REPO, 'bin', 'airlock.js');
const MAX_RSS = join(REPO, 'bench', 'lib', 'max-rss.cjs');
const envInt = (name: string, dflt: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = envInt('AIRLOCK_BENCH_RUNS', 3);
const PACKAGES = envInt('AIRLOCK_BENCH_NPM_PACKAGES', 500);

/** A package tarball (package/package.json, package/index.js, some text) as npm packs it. */
async function tarball(name: string, version: string, i: number): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  const body = `// ${name}\n${'module.exports.value = '.repeat(1)}${i};\n${'/* padding */\n'.repeat(200 + (i % 50) * 20)}`;
  p.entry(
    { name: 'package/package.json', mtime: new Date(0) },
    JSON.stringify({ name, version, main: 'index.js' }),
  );
  p.entry({ name: 'package/index.js', mtime: new Date(0) }, body);
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** Publishes through the registry's publish API (what `npm publish` sends), 16 at a time. */
async function publishMany(
  reg: TestNpmRegistry,
  count: number,
): Promise<{ name: string; version: string; integrity: string; resolved: string }[]> {
  const out: { name: string; version: string; integrity: string; resolved: string }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const name = `bench-pkg-${i}`;
      const version = '1.0.0';
      const tgz = await tarball(name, version, i);
      const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`;
      const resolved = `${reg.url}${name}/-/${name}-${version}.tgz`;
      const res = await fetch(`${reg.url}${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.token}` },
        body: JSON.stringify({
          _id: name,
          name,
          'dist-tags': { latest: version },
          versions: {
            [version]: {
              name,
              version,
              main: 'index.js',
              _id: `${name}@${version}`,
              dist: {
                integrity,
                shasum: createHash('sha1').update(tgz).digest('hex'),
                tarball: resolved,
              },
            },
          },
          _attachments: {
            [`${name}-${version}.tgz`]: {
              content_type: 'application/octet-stream',
              data: tgz.toString('base64'),
              length: tgz.length,
            },
          },
        }),
      });
      if (!res.ok) throw new Error(`publish ${name}: HTTP ${res.status} ${await res.text()}`);
      out[i] = { name, version, integrity, resolved };
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

interface Row {
  label: string;
  ours: number[];
  theirs: number[];
  goal: number;
}

function report(title: string, rows: Row[]): void {
  console.log(`\n${title} (min / median / max over ${RUNS} rounds)`);
  printTable(
    ['scenario', 'airlock', 'npm', 'ratio per round', 'verdict'],
    rows.map((r) => {
      const ratios = roundRatios(r.ours, r.theirs);
      return [
        r.label,
        fmtSpread(r.ours),
        fmtSpread(r.theirs),
        fmtRatios(ratios),
        verdict(ratios, r.goal, 'max'),
      ];
    }),
  );
}

/** Runs the three comparisons on a project directory holding airlock.yaml + package.json + package-lock.json. */
async function compare(
  project: string,
  work: string,
  npmrc: string,
): Promise<{ rows: Row[]; peakRssKiB: number[] }> {
  const env = npmEnv({ AIRLOCK_HOME: join(work, 'unused') });
  const rows: Row[] = [
    { label: 'fetch cold vs npm ci (empty cache)', ours: [], theirs: [], goal: 1.0 },
    { label: 'offline install vs npm ci --offline (warm)', ours: [], theirs: [], goal: 1.0 },
    { label: 'unchanged lock (build) vs npm ci --offline (warm)', ours: [], theirs: [], goal: 0.1 },
  ];
  const peakRssKiB: number[] = [];
  const npmDir = join(work, 'npm-project');
  await mkdir(npmDir, { recursive: true });
  await cp(join(project, 'package.json'), join(npmDir, 'package.json'));
  await cp(join(project, 'package-lock.json'), join(npmDir, 'package-lock.json'));
  const npmArgs = ['--ignore-scripts', '--no-audit', '--no-fund', '--userconfig', npmrc];
  for (let round = 0; round < RUNS; round++) {
    const store = join(work, `store-${round}`);
    const cache = join(work, `npm-cache-${round}`);
    // fetch cold: an empty store; peak RSS reported by the preloaded max-rss.cjs.
    const fetched = await runOk(
      process.execPath,
      ['--require', MAX_RSS, AIRLOCK, '--store', store, 'fetch', '-C', project],
      { env },
    );
    rows[0]!.ours.push(fetched.ms);
    peakRssKiB.push(Number(/max-rss-kib:(\d+)/.exec(fetched.stderr)?.[1] ?? Number.NaN));
    await rm(join(npmDir, 'node_modules'), { recursive: true, force: true });
    rows[0]!.theirs.push(
      (await runOk('npm', ['ci', ...npmArgs, '--cache', cache], { cwd: npmDir, env })).ms,
    );
    // Offline install: the first build installs from the fetched store (the step itself is trivial).
    rows[1]!.ours.push(
      (
        await runOk(
          process.execPath,
          [AIRLOCK, '--store', store, 'build', '--no-frozen', '-C', project],
          { env },
        )
      ).ms,
    );
    await rm(join(npmDir, 'node_modules'), { recursive: true, force: true });
    const warm = await runOk('npm', ['ci', '--offline', ...npmArgs, '--cache', cache], {
      cwd: npmDir,
      env,
    });
    rows[1]!.theirs.push(warm.ms);
    rows[2]!.theirs.push(warm.ms);
    rows[2]!.ours.push(
      (
        await runOk(
          process.execPath,
          [AIRLOCK, '--store', store, 'build', '--no-frozen', '-C', project],
          { env },
        )
      ).ms,
    );
    await rm(store, { recursive: true, force: true });
    await rm(cache, { recursive: true, force: true });
  }
  return { rows, peakRssKiB };
}

const YAML = (name: string): string =>
  `version: 1\nname: ${name}\nsourceDateEpoch: 1700000000\ntargets:\n  deps:\n    sources: ["package.json", "package-lock.json"]\n    npm: { lockfile: package-lock.json }\n    steps: ["mkdir -p out && ls node_modules | wc -l > out/count.txt"]\n    outputs: ["out/**"]\n`;

async function main(): Promise<void> {
  console.log(machineNote());
  const work = await mkdtemp(join(tmpdir(), 'airlock-lock-bench-'));
  const reg = await startVerdaccio();
  try {
    const t0 = Date.now();
    const pkgs = await publishMany(reg, PACKAGES);
    console.log(`published ${PACKAGES} packages to verdaccio in ${fmtMs(Date.now() - t0)}`);
    const project = join(work, 'generated');
    await mkdir(project);
    const deps = Object.fromEntries(pkgs.map((p) => [p.name, p.version]));
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify(
        { name: 'generated', version: '1.0.0', private: true, dependencies: deps },
        null,
        2,
      ),
    );
    const packages: Record<string, object> = {
      '': { name: 'generated', version: '1.0.0', dependencies: deps },
    };
    for (const p of pkgs)
      packages[`node_modules/${p.name}`] = {
        version: p.version,
        resolved: p.resolved,
        integrity: p.integrity,
      };
    await writeFile(
      join(project, 'package-lock.json'),
      JSON.stringify(
        { name: 'generated', version: '1.0.0', lockfileVersion: 3, requires: true, packages },
        null,
        2,
      ),
    );
    await writeFile(join(project, 'airlock.yaml'), YAML('generated'));
    await writeFile(join(project, '.npmrc'), `registry=${reg.url}\n`);
    const npmrc = join(work, 'npmrc');
    await writeFile(npmrc, reg.npmrc);
    await runOk(process.execPath, [AIRLOCK, 'lock', '-C', project]);
    const generated = await compare(project, join(work, 'gen-work'), npmrc);
    report(`${PACKAGES}-package lock served by local verdaccio`, generated.rows);
    const rss = generated.peakRssKiB.map((k) => k / 1024);
    console.log(
      `peak RSS of airlock fetch (${PACKAGES} packages): ${rss.map((m) => `${m.toFixed(0)} MiB`).join(', ')} (min ${Math.min(...rss).toFixed(0)} / max ${Math.max(...rss).toFixed(0)} MiB)`,
    );

    let reachable = false;
    try {
      const res = await fetch('https://registry.npmjs.org/ms', {
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      reachable = res.ok;
    } catch {
      reachable = false;
    }
    if (!reachable) {
      console.log('\nexamples/ts-service: skipped, registry.npmjs.org is unreachable');
      return;
    }
    const example = join(work, 'ts-service');
    await cp(join(REPO, 'examples', 'ts-service'), example, {
      recursive: true,
      filter: (s) => !/\/(dist|node_modules)$/.test(s),
    });
    await writeFile(join(example, 'airlock.yaml'), YAML('ts-service'));
    await runOk(process.execPath, [AIRLOCK, 'lock', '-C', example]);
    const publicRc = join(work, 'public-npmrc');
    await writeFile(publicRc, '');
    const ts = await compare(example, join(work, 'ts-work'), publicRc);
    report('examples/ts-service dependencies from registry.npmjs.org', ts.rows);
  } finally {
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
