import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../core/errors.js';
import type { ConfigProblem } from './index.js';
import { CONFIG_FILE, loadConfig } from './index.js';

const VALID = `version: 1
name: demo
targets:
  app:
    sources: ["src/**"]
    steps: ["make"]
    outputs: ["dist/**"]
`;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-config-load-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<AirlockError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AirlockError);
    return err as AirlockError;
  }
  throw new Error('expected a rejection');
}

describe('loadConfig', () => {
  describe('given a directory holding airlock.yaml', () => {
    it('returns the config with absolute file and root', async () => {
      await writeFile(join(dir, CONFIG_FILE), VALID);
      const config = await loadConfig(dir);
      expect(config.file).toBe(join(dir, CONFIG_FILE));
      expect(config.root).toBe(dir);
      expect([...config.targets.keys()]).toEqual(['app']);
    });
  });

  describe('given the path of a config file', () => {
    it('reads that file, whatever its name', async () => {
      const file = join(dir, 'other.yaml');
      await writeFile(file, VALID);
      const config = await loadConfig(file);
      expect(config.file).toBe(file);
      expect(config.name).toBe('demo');
    });
  });

  describe('when there is no airlock.yaml', () => {
    it('throws CONFIG_NOT_FOUND naming the path and `airlock init`', async () => {
      await mkdir(join(dir, 'empty'));
      const err = await rejection(loadConfig(join(dir, 'empty')));
      expect(err.code).toBe('CONFIG_NOT_FOUND');
      expect(err.message).toContain(join(dir, 'empty', CONFIG_FILE));
      expect(err.hint).toContain('airlock init');
    });

    it('throws CONFIG_NOT_FOUND for a path that does not exist', async () => {
      const err = await rejection(loadConfig(join(dir, 'nope', 'airlock.yaml')));
      expect(err.code).toBe('CONFIG_NOT_FOUND');
      expect(err.details).toMatchObject({ file: join(dir, 'nope', 'airlock.yaml') });
    });
  });

  describe('when the file has problems', () => {
    it('throws CONFIG_INVALID whose message names the file and lists every problem', async () => {
      const file = join(dir, CONFIG_FILE);
      await writeFile(
        file,
        'version: 1\nname: demo\ntargets:\n  app:\n    sourcs: [src]\n    steps: [make]\n    outputs: []\n',
      );
      const err = await rejection(loadConfig(dir));
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.message.split('\n')).toEqual([
        `${file}: 2 problems`,
        `${file}:5:5: targets.app.sourcs: unknown key "sourcs" in target "app"; did you mean "sources"? (fix: rename it to "sources")`,
        `${file}:7:14: targets.app.outputs: "outputs" is empty; at least one entry is required (fix: list at least one, e.g. outputs: ["dist/**"])`,
      ]);
      const problems = err.details?.problems as ConfigProblem[];
      expect(problems.map((p) => [p.file, p.line, p.column])).toEqual([
        [file, 5, 5],
        [file, 7, 14],
      ]);
    });

    it('throws CONFIG_PARSE for a YAML syntax error', async () => {
      const file = join(dir, CONFIG_FILE);
      await writeFile(file, 'version: 1\nname: "demo\n');
      const err = await rejection(loadConfig(file));
      expect(err.code).toBe('CONFIG_PARSE');
      expect(err.message).toContain(`${file}:2:7: YAML syntax error: Missing closing "quote`);
      expect(err.hint).toContain(file);
    });
  });
});

describe('loadConfig with checkSources', () => {
  it('reports every glob that matches no file together with the other problems, each at its line', async () => {
    await mkdir(join(dir, 'src', 'lib'), { recursive: true });
    await writeFile(join(dir, 'src', 'lib', 'a.c'), '');
    await writeFile(join(dir, 'Makefile'), '');
    await writeFile(
      join(dir, CONFIG_FILE),
      `version: 1
name: demo
targets:
  app:
    sources: ["src/**/*.c", "Makefile", "include/**", "README.md", "!src/x.c"]
    steps: ["make"]
    outputs: ["dist/**"]
    tolchain: { host: [cc] }
`,
    );
    const err = await rejection(loadConfig(dir, { checkSources: true }));
    const problems = (err.details as { problems: ConfigProblem[] }).problems;
    expect(problems.map((p) => `${p.line}:${p.column} ${p.path}`)).toEqual([
      '5:41 targets.app.sources[2]',
      '5:55 targets.app.sources[3]',
      '5:68 targets.app.sources[4]',
      '8:5 targets.app.tolchain',
    ]);
    expect(problems[0]!.message).toBe('sources pattern "include/**" matches no file');
    expect(problems[2]!.message).not.toContain('matches no file');
  });

  it('accepts the config once every glob matches, and skips the check without the option', async () => {
    await writeFile(join(dir, CONFIG_FILE), VALID);
    await expect(loadConfig(dir)).resolves.toMatchObject({ name: 'demo' });
    await expect(loadConfig(dir, { checkSources: true })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await mkdir(join(dir, 'src', '.hidden'), { recursive: true });
    await writeFile(join(dir, 'src', '.hidden', 'x'), '');
    await expect(loadConfig(dir, { checkSources: true })).resolves.toMatchObject({
      name: 'demo',
    });
  });
});
