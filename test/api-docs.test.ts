import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as airlock from '../src/index.js';
import { REPO, copyDemo, tempDir } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';

const run = promisify(execFile);

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
    let env: NodeJS.ProcessEnv;
    beforeAll(async () => {
      reg = await startRegistry();
      // A package that resolves `airlock` to this repository (its dist/ build).
      mkdirSync(join(tmp.path, 'node_modules'));
      symlinkSync(REPO, join(tmp.path, 'node_modules', 'airlock'), 'dir');
      // Examples make their own temp directories: keep them under this test's.
      mkdirSync(join(tmp.path, 'tmp'));
      env = {
        ...process.env,
        TMPDIR: join(tmp.path, 'tmp'),
        AIRLOCK_HOME: join(tmp.path, 'store'),
        PROJECT: copyDemo(join(tmp.path, 'demo')),
        REGISTRY: reg.host,
      };
    });
    afterAll(async () => {
      await reg.stop();
      tmp.cleanup();
    });

    blocks.forEach(({ heading, code }, i) => {
      it(`runs the ${heading} example`, async () => {
        const file = join(tmp.path, `example-${i}.mjs`);
        writeFileSync(file, code);
        const r = await run(process.execPath, [file], { cwd: tmp.path, env });
        expect(r.stderr).toBe('');
      });
    });
  });
});
