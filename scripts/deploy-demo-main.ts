// `npm run demo`, the deploy part: runs scripts/deploy-demo.ts with progress on
// stdout, checks both outcomes, and removes everything it started on success,
// on failure and on Ctrl-C (SIGINT) or SIGTERM.
import { DeployDemo, demoProblems } from './deploy-demo.js';

const demo = new DeployDemo({ log: (line) => console.log(line) });
let cleanup: Promise<void> | undefined;
const finish = async (code: number): Promise<never> => {
  if (cleanup === undefined) {
    console.log(
      'cleaning up: containers, pulled images, registries, routers, Prometheus, temp files',
    );
    cleanup = demo.stop();
  }
  // A failure caused by the interrupt waits for the same cleanup, then exits with its own code.
  await cleanup;
  process.exit(code);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.log(`\n${signal}: stopping the demo`);
    void finish(130);
  });

try {
  await demo.start();
  const result = await demo.run();
  const problems = demoProblems(result);
  const failing = result.second.deploy?.rollout.samples.find((x) => x.verdict !== 'pass');
  console.log('');
  console.log(`release 1 (${result.first.artifact ?? '?'}): promoted in eu and us`);
  console.log(
    `release 2 (${result.second.artifact ?? '?'}): stopped at ${result.second.failed ?? '-'}, ${result.second.deploy?.outcome ?? '-'}` +
      (failing
        ? ` by gate ${failing.gate} in ${failing.region} at ${failing.weight}%: ${failing.value ?? 'no data'} > max ${failing.threshold.max ?? '-'}`
        : ''),
  );
  if (problems.length > 0) {
    for (const p of problems) console.error(`demo: ${p}`);
    await finish(1);
  }
  await finish(0);
} catch (err) {
  // After Ctrl-C the failure is the interrupt's doing: say nothing more.
  if (cleanup === undefined)
    console.error(
      `demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  await finish(1);
}
