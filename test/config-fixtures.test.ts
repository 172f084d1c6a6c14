import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AirlockError } from '../src/core/errors.js';
import { loadConfig, planOrder } from '../src/config/index.js';

const fixtures = fileURLToPath(new URL('./fixtures/config/', import.meta.url));

describe('airlock.yaml fixtures', () => {
  describe('full/', () => {
    it('loads and plans lib before web', async () => {
      const config = await loadConfig(join(fixtures, 'full'));
      expect(config.name).toBe('hello');
      expect(config.root).toBe(join(fixtures, 'full'));
      expect(config.targets.get('web')?.deps).toEqual([{ target: 'lib', path: 'vendor/lib' }]);
      expect(config.targets.get('web')?.image?.exposedPorts).toEqual(['8080/tcp']);
      expect(planOrder(config, ['web'])).toEqual(['lib', 'web']);
    });
  });

  describe('broken/', () => {
    it('reports every mistake with file, line, column and fix', async () => {
      const file = join(fixtures, 'broken', 'airlock.yaml');
      let err: unknown;
      try {
        await loadConfig(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AirlockError);
      const lines = (err as AirlockError).message.split('\n');
      expect(lines[0]).toBe(`${file}: 7 problems`);
      expect(lines.slice(1).map((l) => l.slice(file.length + 1, l.indexOf(' (fix: ')))).toEqual([
        '6:5: targets.lib.sourcs: unknown key "sourcs" in target "lib"; did you mean "sources"?',
        '10:13: targets.lib.env.PORT: the value of PORT must be a string, not a number',
        '12:15: targets.web.sources[0]: "../shared/**" points outside the project with ".."',
        '13:12: targets.web.deps[0]: dep "lbi" is not a target in this file; did you mean "lib"?',
        '13:17: targets.web.deps[1]: target "web" depends on itself',
        '14:12: targets.web.steps: "steps" is empty; at least one entry is required',
        '15:15: targets.web.outputs[0]: output "dist/**" is also declared by target "lib"',
      ]);
    });
  });
});
