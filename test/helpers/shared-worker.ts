// A vitest setup file for the end-to-end files that share a worker (and its
// module cache) with the files before them: each must leave the process as
// it found it. After the file's own afterAll hooks, fails the file when it
// changed the environment, the working directory, the umask or the signal
// handlers, and refuses a file that mocks modules (a mocked module would be
// the next file's module). Such a file belongs in ISOLATED (vitest.config.ts).
import { readFileSync } from 'node:fs';
import { afterAll, expect } from 'vitest';

const umask = (): string =>
  /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
const state = (): Record<string, unknown> => ({
  env: { ...process.env },
  cwd: process.cwd(),
  umask: umask(),
  signalHandlers: SIGNALS.map((s) => process.listenerCount(s)),
});

const file = expect.getState().testPath;
if (file && /\bvi\.(?:do)?mock\(/.test(readFileSync(file, 'utf8')))
  throw new Error(`${file} mocks modules: list it in ISOLATED (vitest.config.ts)`);
const before = state();

afterAll(() => {
  const after = state();
  if (JSON.stringify(after) !== JSON.stringify(before))
    throw new Error(
      `${file} changed process-wide state that the next file in this worker would see; restore it, or list the file in ISOLATED (vitest.config.ts)\nbefore: ${JSON.stringify(before)}\nafter:  ${JSON.stringify(after)}`,
    );
});
