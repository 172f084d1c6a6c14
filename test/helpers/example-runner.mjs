// Runs the ES modules it is sent over IPC one after another in this one
// process (a Node start and the package's modules loaded once, not once per
// example). For each it answers whether the module ran to completion, with
// any error, unhandled rejection or exit code it left. After each answer it
// writes the marker line given as its argument to stderr, so the parent can
// take everything before it on the stderr pipe as that module's output.
import { pathToFileURL } from 'node:url';

const marker = process.argv[2];

const failures = [];
process.on('unhandledRejection', (err) => failures.push(String(err?.stack ?? err)));
process.on('uncaughtException', (err) => failures.push(String(err?.stack ?? err)));

process.on('message', async (file) => {
  failures.length = 0;
  process.exitCode = undefined;
  try {
    await import(pathToFileURL(file).href);
  } catch (err) {
    failures.push(String(err?.stack ?? err));
  }
  // Let rejections of promises the module dropped surface before answering.
  await new Promise((resolve) => setImmediate(resolve));
  const exitCode = process.exitCode ?? 0;
  process.exitCode = undefined;
  process.stderr.write(`${marker}\n`, () => process.send({ failures: [...failures], exitCode }));
});
