import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as airlock from '../src/index.js';
import { REPO, copyDemo, tempDir } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';

/**
 * One Node process running the examples in order, each as its own module:
 * `run(file)` resolves with what the module wrote to stderr, the failures it
 * left (a throw, an unhandled rejection, an exit code) and nothing else.
 */
function exampleRunner(opts: { cwd: string; env: NodeJS.ProcessEnv }): {
  run(file: string): Promise<{ stderr: string; failures: string[]; exitCode: number }>;
  /** Disconnects and resolves with the exit code once the process ends by itself. */
  close(): Promise<number | null>;
  /** Ends the process if it is still there. */
  kill(): void;
} {
  const marker = `example done ${randomBytes(8).toString('hex')}\n`;
  const child: ChildProcess = fork(
    join(REPO, 'test', 'helpers', 'example-runner.mjs'),
    [marker.trim()],
    {
      cwd: opts.cwd,
      env: opts.env,
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    },
  );
  let stderr = '';
  let wake = (): void => {};
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    async run(file) {
      const answer = new Promise<{ failures: string[]; exitCode: number }>((resolve, reject) => {
        child.once('message', (m) => resolve(m as { failures: string[]; exitCode: number }));
        void exited.then((code) => reject(new Error(`example runner exited (${code}): ${stderr}`)));
      });
      child.send(file);
      const result = await answer;
      // The marker follows everything the module wrote to stderr.
      while (!stderr.includes(marker)) await new Promise<void>((resolve) => (wake = resolve));
      const at = stderr.indexOf(marker);
      const own = stderr.slice(0, at);
      stderr = stderr.slice(at + marker.length);
      return { stderr: own, ...result };
    },
    close() {
      if (child.connected) child.disconnect();
      return exited;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** The ```js blocks of docs/api.md, each with the `## heading` it sits under. */
function examples(markdown: string): { heading: string; code: string }[] {
  const out: { heading: string; code: string }[] = [];
  let heading = '';
  for (const m of markdown.matchAll(/^## (.+)$|^```js\n([^]*?)^```$/gm)) {
    if (m[1] !== undefined) heading = m[1];
    else out.push({ heading, code: m[2]! });
  }
  return out;
}

const USE_CASES = [
  'build',
  'why',
  'dashboard',
  'buildsOf',
  'repro',
  'check',
  'pin',
  'init',
  'push',
  'pull',
  'copy',
  'ls',
  'attachments',
  'keygen',
  'sign',
  'verify',
  'sbom',
  'storeFsck',
  'storeGc',
  'lock',
  'fetchInputs',
  'auditLog',
  'auditCheckpoint',
  'auditVerify',
  'auditExport',
  'lineage',
  'emitKubernetes',
];

const blocks = examples(readFileSync(join(REPO, 'docs', 'api.md'), 'utf8'));

describe('docs/api.md', () => {
  it('has one example per use-case, calling it from the package entry point', () => {
    for (const name of USE_CASES) {
      expect(typeof (airlock as Record<string, unknown>)[name], name).toBe('function');
      const block = blocks.find((b) => b.heading === name);
      expect(block?.code, `## ${name}`).toMatch(
        new RegExp(`import \\{[^}]*\\b${name}\\b[^}]*\\} from 'airlock'`),
      );
      expect(block?.code).toMatch(new RegExp(`\\b${name}\\(\\{`));
    }
  });

  describe('every example, run in order against the built package', () => {
    const tmp = tempDir('api-docs');
    let reg: TestRegistry;
    let runner: ReturnType<typeof exampleRunner>;
    beforeAll(async () => {
      reg = await startRegistry();
      // A package that resolves `airlock` to this repository (its dist/ build).
      mkdirSync(join(tmp.path, 'node_modules'));
      symlinkSync(REPO, join(tmp.path, 'node_modules', 'airlock'), 'dir');
      // Examples make their own temp directories: keep them under this test's.
      mkdirSync(join(tmp.path, 'tmp'));
      runner = exampleRunner({
        cwd: tmp.path,
        env: {
          ...process.env,
          TMPDIR: join(tmp.path, 'tmp'),
          AIRLOCK_HOME: join(tmp.path, 'store'),
          PROJECT: copyDemo(join(tmp.path, 'demo')),
          REGISTRY: reg.host,
        },
      });
    });
    afterAll(async () => {
      runner.kill();
      await reg.stop();
      tmp.cleanup();
    });

    blocks.forEach(({ heading, code }, i) => {
      it(`runs the ${heading} example`, async () => {
        const file = join(tmp.path, `example-${i}.mjs`);
        writeFileSync(file, code);
        const r = await runner.run(file);
        expect(r.failures).toEqual([]);
        expect(r.exitCode).toBe(0);
        expect(r.stderr).toBe('');
        // After the last one, the process ends by itself: no example left a server, timer or handle open.
        if (i === blocks.length - 1) expect(await runner.close()).toBe(0);
      });
    });
  });
});
