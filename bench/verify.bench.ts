// Benchmark and fuzz: `airlock verify` of one artifact with 4 signed attestations, against
// @sigstore/verify called on the same 4 bundles in the same process; then a mutation fuzz.
//   1. runVerify from the store (open store, read referrers, verify, evaluate the policy).
//   2. verifyAttachments + evaluatePolicy on the same bytes in memory.
//   3. @sigstore/verify alone: bundleFromJSON + Verifier.verify on each of the 4 bundles.
//   4. Mutation fuzz (flips, truncations, appends over artifact digest, DSSE payload,
//      signature, bundle JSON, manifest): counts accepted cases and untyped rejections.
// Run with: npx tsx bench/verify.bench.ts
// Knobs (env): AIRLOCK_BENCH_RUNS (default 30), AIRLOCK_FUZZ_CASES (default 10000).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import { noEvents } from '../src/core/events.js';
import { parseManifest } from '../src/oci/index.js';
import { evaluatePolicy } from '../src/policy/index.js';
import { bundleAttachments } from '../src/pipeline/attestations.js';
import { signStatements } from '../src/pipeline/sign.js';
import { runVerify, verifyAttachments } from '../src/pipeline/verify.js';
import { encodeKeyPair, generateSigningKey } from '../src/sign/index.js';
import { Store } from '../src/store/index.js';
import {
  FUZZ_TARGETS,
  POLICY_YAML,
  attach,
  mutatedCase,
  policy,
  prng,
  statements,
  keys as fixtureKeys,
} from '../test/helpers/evidence.js';
import { storeArtifact } from '../test/helpers/registry-artifacts.js';
import {
  fmtMs,
  fmtRatios,
  fmtSpread,
  machineNote,
  median,
  printTable,
  roundRatios,
  verdict,
} from './lib/measure.js';

const envInt = (name: string, dflt: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = envInt('AIRLOCK_BENCH_RUNS', 30);
const FUZZ = envInt('AIRLOCK_FUZZ_CASES', 10_000);

const ms = (x: number): string => `${x.toFixed(2)} ms`;

function stats(xs: number[]): [string, string, string] {
  const s = [...xs].sort((a, b) => a - b);
  return [ms(s[0]!), ms(median(s)), ms(s[s.length - 1]!)];
}

function timeSync(fn: () => unknown): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-verify-bench-'));
  try {
    const key = generateSigningKey();
    const { publicPem } = await encodeKeyPair(key, 'bench');
    writeFileSync(join(dir, 'trusted.pub'), publicPem);
    const store = await Store.open(join(dir, 'store'));
    const art = await storeArtifact(store, 'bench/app', 50_000);
    await signStatements(store, art, statements(art.digest, Date.now()), key, noEvents);
    // The bytes, read once, for the in-memory comparisons.
    const attachments: { source: string; manifest: Buffer; bundle: Buffer }[] = [];
    for (const d of await bundleAttachments(store, art.digest)) {
      const manifest = await store.getBytes(d.digest);
      const m = parseManifest(manifest, d.mediaType, d.digest);
      if (m.kind !== 'manifest') throw new Error('not a manifest');
      attachments.push({
        source: d.digest,
        manifest,
        bundle: await store.getBytes(m.layers[0]!.digest),
      });
    }
    store.close();
    if (attachments.length !== 4)
      throw new Error(`expected 4 attestations, got ${attachments.length}`);
    writeFileSync(join(dir, 'policy.yaml'), POLICY_YAML);

    const pol = policy();
    const sigstore = new Verifier(
      {
        certificateAuthorities: [],
        timestampAuthorities: [],
        tlogs: [],
        ctlogs: [],
        publicKey: () => ({ publicKey: key.publicKey, validFor: () => true }),
      },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    );
    const fromStore: number[] = [];
    const inMemory: number[] = [];
    const sigstoreOnly: number[] = [];
    // Each round: one verify from the store, then REPS in-memory runs of Airlock and of
    // @sigstore/verify interleaved (a sub-millisecond call timed once is mostly timer and
    // GC noise); the per-call median of each (a call the scheduler preempted on a loaded
    // machine lands in the tail, whichever side it hit), and their ratio within the round.
    const REPS = 21;
    for (let i = 0; i < RUNS + 3; i++) {
      const t = performance.now();
      const report = await runVerify({
        artifact: art.digest,
        policy: join(dir, 'policy.yaml'),
        store: join(dir, 'store'),
        events: noEvents,
      });
      const storeMs = performance.now() - t;
      if (!report.pass)
        throw new Error(`verify failed: ${JSON.stringify(report.rules.filter((r) => !r.pass))}`);
      const memMs: number[] = [];
      const sigMs: number[] = [];
      for (let r = 0; r < REPS; r++) {
        memMs.push(
          timeSync(() => {
            const { verified, failed } = verifyAttachments(art.digest, attachments, [key]);
            if (!evaluatePolicy(pol, art.digest, verified, failed, Date.now()).pass)
              throw new Error('in-memory verify failed');
          }),
        );
        sigMs.push(
          timeSync(() => {
            for (const a of attachments)
              sigstore.verify(
                toSignedEntity(bundleFromJSON(JSON.parse(a.bundle.toString('utf8')))),
              );
          }),
        );
      }
      if (i < 3) continue; // warm-up
      fromStore.push(storeMs);
      inMemory.push(median(memMs));
      sigstoreOnly.push(median(sigMs));
    }
    console.log(
      `verify: 1 artifact, 4 attestations, ${RUNS} rounds after 3 warm-up, ${REPS} in-memory calls per round, their median (${machineNote()})`,
    );
    printTable(
      ['what', 'min', 'median', 'max'],
      [
        ['airlock verify from the store (runVerify)', ...stats(fromStore)],
        ['airlock verify in memory (verifyAttachments + policy)', ...stats(inMemory)],
        ['@sigstore/verify alone on the 4 bundles', ...stats(sigstoreOnly)],
      ],
    );
    const ratios = roundRatios(inMemory, sigstoreOnly);
    console.log(
      `in memory vs @sigstore/verify per round (min / median / max): ${fmtRatios(ratios)}; ${verdict(ratios, 1.0, 'max')}`,
    );
    console.log(
      `from the store (min / median / max): ${fmtSpread(fromStore)}; ${verdict(fromStore, 100, 'max', ' ms')}`,
    );

    // Mutation fuzz.
    const [prov, ...rest] = statements();
    const valid = await attach(prov!, fixtureKeys.trusted);
    const others = await Promise.all(rest.map((s) => attach(s, fixtureKeys.trusted)));
    const rnd = prng(1);
    let accepted = 0;
    let untyped = 0;
    let crashes = 0;
    const now = 1_800_000_000_000;
    const t = performance.now();
    for (let i = 0; i < FUZZ; i++) {
      const target = FUZZ_TARGETS[i % FUZZ_TARGETS.length]!;
      try {
        const { subject, attachment } = mutatedCase(valid, target, rnd);
        const { verified, failed } = verifyAttachments(
          subject,
          [attachment, ...others],
          [fixtureKeys.trusted],
        );
        if (evaluatePolicy(pol, subject, verified, failed, now).pass) accepted++;
        untyped += failed.filter(
          (f) => f.code === 'UNEXPECTED' || !/^[A-Z_]+$/.test(f.code),
        ).length;
      } catch {
        crashes++;
      }
    }
    console.log(
      `fuzz: ${FUZZ} mutated cases in ${fmtMs(performance.now() - t)}: ${accepted} accepted, ${crashes} crashes, ${untyped} untyped rejections`,
    );
    if (accepted + crashes + untyped > 0) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
