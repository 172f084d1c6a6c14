import { describe, expect, it } from 'vitest';
import { AirlockError } from '../core/errors.js';
import type { ProjectConfig } from './index.js';
import { parseConfig, planOrder, sourceDateEpochOf } from './index.js';

function config(text: string): ProjectConfig {
  const { config, problems } = parseConfig(
    `version: 1\nname: p\ntargets:\n${text}`,
    '/p/airlock.yaml',
  );
  expect(problems).toEqual([]);
  return config!;
}

const graph = config(
  [
    '  app: { sources: [a], steps: [s], outputs: [oa], deps: [web, lib] }',
    '  web: { sources: [w], steps: [s], outputs: [ow], deps: [{ target: lib, path: vendor/lib }] }',
    '  lib: { sources: [l], steps: [s], outputs: [ol], deps: [base] }',
    '  base: { sources: [b], steps: [s], outputs: [ob] }',
    '  tools: { sources: [t], steps: [s], outputs: [ot] }',
    '',
  ].join('\n'),
);

describe('planOrder', () => {
  describe('with no targets asked for', () => {
    it('returns every target once, each after its deps', () => {
      expect(planOrder(graph, [])).toEqual(['base', 'lib', 'web', 'app', 'tools']);
    });
  });

  describe('with some targets asked for', () => {
    it('returns only those and what they need, deps first', () => {
      expect(planOrder(graph, ['web'])).toEqual(['base', 'lib', 'web']);
      expect(planOrder(graph, ['tools', 'lib'])).toEqual(['tools', 'base', 'lib']);
    });

    it('lists a target asked for twice once', () => {
      expect(planOrder(graph, ['lib', 'base', 'lib'])).toEqual(['base', 'lib']);
    });
  });

  describe('when a target is unknown', () => {
    it('throws UNKNOWN_TARGET with the closest name', () => {
      let caught: unknown;
      try {
        planOrder(graph, ['wbe']);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(AirlockError);
      const err = caught as AirlockError;
      expect(err.code).toBe('UNKNOWN_TARGET');
      expect(err.message).toBe('unknown target "wbe"; did you mean "web"?');
      expect(err.hint).toContain('app, web, lib, base, tools');
      expect(err.details).toMatchObject({ target: 'wbe' });
    });

    it('gives no suggestion when nothing is close', () => {
      expect(() => planOrder(graph, ['zzzzzz'])).toThrow(/^unknown target "zzzzzz"$/);
    });
  });

  describe('when a hand-made config has a cycle', () => {
    it('throws CONFIG_INVALID naming the cycle', () => {
      const bad: ProjectConfig = {
        ...graph,
        targets: new Map([
          ['a', { ...graph.targets.get('base')!, name: 'a', deps: [{ target: 'b', path: '.' }] }],
          ['b', { ...graph.targets.get('base')!, name: 'b', deps: [{ target: 'a', path: '.' }] }],
        ]),
      };
      expect(() => planOrder(bad, [])).toThrow('dependency cycle: a → b → a');
    });
  });
});

describe('sourceDateEpochOf', () => {
  it('prefers the target override, then the project value', () => {
    const { config } = parseConfig(
      'version: 1\nname: p\nsourceDateEpoch: 10\ntargets:\n' +
        '  a: { sources: [a], steps: [s], outputs: [oa], sourceDateEpoch: 20 }\n' +
        '  b: { sources: [b], steps: [s], outputs: [ob] }\n',
      '/p/airlock.yaml',
    );
    expect(sourceDateEpochOf(config!, config!.targets.get('a')!)).toBe(20);
    expect(sourceDateEpochOf(config!, config!.targets.get('b')!)).toBe(10);
    expect(sourceDateEpochOf(graph, graph.targets.get('app')!)).toBeUndefined();
  });
});
