#!/usr/bin/env node
// `airlock build` goes to the build daemon when one is wanted and serves this
// store and project (dist/daemon/client.js loads node built-ins only; when the
// environment wants no daemon it is not loaded at all); otherwise a build whose
// stamp shows nothing changed is answered by dist/cli/fast-build.js (node
// built-ins until the stamp matches); anything else runs the CLI here.
import { daemonWanted } from '../dist/daemon/wanted.js';

const io = { cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr };
const code = daemonWanted(process.env) ? await viaDaemon() : undefined;
if (code !== undefined) process.exitCode = code;
else {
  const { runStampedBuild } = await import('../dist/cli/fast-build.js');
  const fast = await runStampedBuild(process.argv, io);
  if (fast !== undefined) process.exitCode = fast;
  else {
    const { main } = await import('../dist/cli/main.js');
    process.exitCode = await main(process.argv);
  }
}

async function viaDaemon() {
  const { runViaDaemon } = await import('../dist/daemon/client.js');
  return runViaDaemon(process.argv, io, {
    onInterrupt: (forward) => {
      let count = 0;
      const onSignal = () => {
        if (++count > 1) process.exit(130);
        process.stderr.write('\nstopping the build (press Ctrl-C again to quit at once)\n');
        forward();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      return () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      };
    },
  });
}
