// Benchmark: `airlock check` over a generated repository of 5,000 files
// (200 Dockerfiles, 200 package.json), several rounds. Goal: under 2 s in every round.
// Run: npm run bench -- check
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCheck } from '../src/pipeline/check.js';
import { fmtSpread, machineNote, median, verdict } from './lib/measure.js';

const TOTAL = 5000;
const root = mkdtempSync(join(tmpdir(), 'airlock-check-bench-'));
try {
  let files = 0;
  const put = (rel: string, text: string): void => {
    const abs = join(root, rel);
    mkdirSync(join(abs, '..'), { recursive: true });
    writeFileSync(abs, text);
    files++;
  };
  for (let i = 0; i < 200; i++) {
    const d = `services/svc${i}`;
    put(
      `${d}/Dockerfile`,
      `FROM node:${18 + (i % 3)}\nWORKDIR /app\nCOPY . .\nRUN apt-get update && apt-get install -y curl \\\n  git\nRUN npm install\nCMD ["node", "index.js"]\n`,
    );
    put(
      `${d}/package.json`,
      JSON.stringify(
        {
          name: `svc${i}`,
          scripts: { build: 'node scripts/build.js' },
          dependencies: { express: '^4.18.2', lodash: '4.17.21' },
        },
        null,
        2,
      ),
    );
    put(`${d}/scripts/build.js`, `const t = Date.now();\nconsole.log(t);\n`);
    put(
      `${d}/k8s.yaml`,
      `apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: svc${i}\n          image: ghcr.io/acme/svc${i}:1.0.${i}\n`,
    );
  }
  put(
    '.github/workflows/ci.yml',
    'on: [push]\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: npm install\n',
  );
  for (let i = 0; files < TOTAL; i++)
    put(`src/pkg${i % 50}/mod${i}.ts`, `export const v${i} = ${i};\n`);

  const RUNS = Number(process.env['AIRLOCK_BENCH_RUNS'] ?? '5');
  const inProcess: number[] = [];
  const cli: number[] = [];
  const hasCli = existsSync('dist/cli/main.js') && existsSync('dist/pipeline/check.js');
  let summary = '';
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const report = await runCheck({ root });
    inProcess.push(performance.now() - t0);
    summary = `${files} files, ${report.findings.length} findings, level ${report.level}`;
    if (!hasCli) continue;
    const t1 = performance.now();
    try {
      execFileSync(process.execPath, ['bin/airlock.js', 'check', root, '--json'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    } catch {
      // exit status 1 is fine (findings); only the time matters here
    }
    cli.push(performance.now() - t1);
  }
  console.log(`${summary}; ${RUNS} rounds, min / median / max (${machineNote()})`);
  console.log(
    `in-process: ${fmtSpread(inProcess)} (median ${((median(inProcess) * 1000) / files).toFixed(1)} µs/file)`,
  );
  if (hasCli) console.log(`CLI (node bin/airlock.js check): ${fmtSpread(cli)}`);
  else
    console.log(
      'CLI: dist/ has no compiled check yet (run `npm run build`); measured in-process only',
    );
  console.log(`in-process, goal < 2000 ms: ${verdict(inProcess, 2000, 'max', ' ms')}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
