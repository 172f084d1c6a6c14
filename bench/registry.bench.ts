// Benchmark: push and pull a 100 MB single-layer artifact to a local
// docker-registry with Airlock, against `skopeo copy` of the same OCI layout
// in the same run; then re-push the unchanged artifact and count blob bytes.
// Run: npm run bench -- registry   (goal: ratio ≤ 1.0× in every round, re-push 0 bytes)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { runPull } from '../src/pipeline/registry-pull.js';
import { runPush } from '../src/pipeline/registry-push.js';
import { Store } from '../src/store/index.js';
import { storeArtifact, writeOciLayout } from '../test/helpers/registry-artifacts.js';
import { startRegistry, tempDir } from '../test/helpers/registry.js';
import {
  fmtRatios,
  fmtSpread,
  machineNote,
  printTable,
  roundRatios,
  verdict,
} from './lib/measure.js';

const exec = promisify(execFile);
const SIZE = Number(process.env['BENCH_REGISTRY_MB'] ?? '100') * 1024 * 1024;
const RUNS = Number(process.env['AIRLOCK_BENCH_RUNS'] ?? '3');

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

/** CPU milliseconds (user + system) this process spends in `fn`: Airlock runs in-process. */
async function cpuOf<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const c0 = process.cpuUsage();
  const v = await fn();
  const c = process.cpuUsage(c0);
  return [(c.user + c.system) / 1000, v];
}

/** `skopeo args` timed, with its CPU milliseconds from /usr/bin/time (NaN without it). */
async function skopeo(args: string[]): Promise<[number, number]> {
  const withTime = existsSync('/usr/bin/time');
  const [ms, out] = await timed(() =>
    withTime
      ? exec('/usr/bin/time', ['-f', 'cpu-seconds %U %S', 'skopeo', ...args])
      : exec('skopeo', args),
  );
  const m = /cpu-seconds ([\d.]+) ([\d.]+)/.exec(out.stderr);
  return [ms, m ? (Number(m[1]) + Number(m[2])) * 1000 : Number.NaN];
}

async function main(): Promise<number> {
  const work = await tempDir('bench-registry');
  // One registry per tool so neither benefits from blobs the other uploaded.
  let regA = await startRegistry();
  let regS = await startRegistry();
  try {
    // A gzip stream of random bytes: already compressed, so skopeo sends it as is.
    const layer = gzipSync(randomBytes(SIZE), { level: 1 });
    const storeRoot = join(work, 'store');
    const store = await Store.open(storeRoot);
    const art = await storeArtifact(store, 'bench', 0, layer);
    store.close();
    const layout = join(work, 'layout');
    await writeOciLayout(layout, 'bench', layer);
    const common = { env: { HOME: '/nonexistent' }, retries: 2 };

    // Median of RUNS rounds; each round uses fresh registries (skopeo remembers
    // where it saw a blob and would mount it) and pulls into a fresh store / layout.
    const airPushes: number[] = [];
    const skoPushes: number[] = [];
    // CPU of each push (user + system): what a loaded machine's wall clock hides.
    const airPushCpu: number[] = [];
    const skoPushCpu: number[] = [];
    const airPulls: number[] = [];
    const skoPulls: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      if (r > 0) {
        await Promise.all([regA.stop(), regS.stop()]);
        [regA, regS] = await Promise.all([startRegistry(), startRegistry()]);
      }
      const [airPush, [airCpu, pushed]] = await timed(() =>
        cpuOf(() =>
          runPush({
            ...common,
            store: storeRoot,
            insecure: [regA.host],
            source: 'bench',
            target: `${regA.host}/bench/app${r}:1`,
          }),
        ),
      );
      if (pushed.digest !== art.digest) throw new Error('pushed digest differs');
      const [skoPush, skoCpu] = await skopeo([
        'copy',
        '-q',
        '--dest-tls-verify=false',
        `oci:${layout}:bench`,
        `docker://${regS.host}/bench/app${r}:1`,
      ]);
      const [airPull] = await timed(() =>
        runPull({
          ...common,
          store: join(work, `pulled-${r}`),
          insecure: [regA.host],
          ref: `${regA.host}/bench/app${r}:1`,
        }),
      );
      const [skoPull] = await timed(() =>
        exec('skopeo', [
          'copy',
          '-q',
          '--src-tls-verify=false',
          `docker://${regS.host}/bench/app${r}:1`,
          `oci:${join(work, `skopeo-pulled-${r}`)}:x`,
        ]),
      );
      airPushes.push(airPush);
      skoPushes.push(skoPush);
      airPushCpu.push(airCpu);
      skoPushCpu.push(skoCpu);
      airPulls.push(airPull);
      skoPulls.push(skoPull);
    }
    const [rePush, again] = await timed(() =>
      runPush({
        ...common,
        store: storeRoot,
        insecure: [regA.host],
        source: 'bench',
        target: `${regA.host}/bench/app${RUNS - 1}:1`,
      }),
    );

    const mb = (layer.byteLength / 1024 / 1024).toFixed(1);
    console.log(
      `registry benchmark: one ${mb} MB layer, docker-registry on 127.0.0.1, ${RUNS} rounds, min / median / max (${machineNote()})`,
    );
    const pushRatios = roundRatios(airPushes, skoPushes);
    const pullRatios = roundRatios(airPulls, skoPulls);
    printTable(
      ['what', 'airlock', 'skopeo', 'airlock/skopeo per round', 'verdict'],
      [
        [
          'push',
          fmtSpread(airPushes),
          fmtSpread(skoPushes),
          fmtRatios(pushRatios),
          verdict(pushRatios, 1.0, 'max'),
        ],
        [
          'pull',
          fmtSpread(airPulls),
          fmtSpread(skoPulls),
          fmtRatios(pullRatios),
          verdict(pullRatios, 1.0, 'max'),
        ],
      ],
    );
    console.log(
      `push CPU (user + system), min / median / max: airlock ${fmtSpread(airPushCpu)}, skopeo ${fmtSpread(skoPushCpu)}, per round ${fmtRatios(roundRatios(airPushCpu, skoPushCpu))} (no verdict: the goal is wall clock)`,
    );
    console.log(
      `re-push of the unchanged artifact: ${rePush.toFixed(0)} ms, ${again.uploadedBytes} blob bytes uploaded`,
    );
    const ok = again.uploadedBytes === 0;
    if (!ok) console.log('FAIL: re-push uploaded blob bytes');
    return ok ? 0 : 1;
  } finally {
    await regA.stop();
    await regS.stop();
    await rm(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
