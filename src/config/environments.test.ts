import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from './index.js';
import { parseConfig } from './index.js';

const FILE = '/proj/airlock.yaml';
const D = `sha256:${'1'.repeat(64)}`;

const project = (extra: string, image = `{ base: "reg.example.com/base/node@${D}" }`): string =>
  [
    'version: 1',
    'name: shop',
    'targets:',
    '  web:',
    '    sources: ["src/**"]',
    '    steps: ["node build.js"]',
    '    outputs: ["out/**"]',
    `    image: ${image}`,
    extra,
  ].join('\n');

const region = (name: string): string =>
  [
    `      ${name}:`,
    `        registry: 127.0.0.1:5000/shop/${name}`,
    '        runtime: podman',
    `        router: { haproxy: run/${name}.sock, backend: web }`,
    `        metrics: { prometheus: "http://127.0.0.1:9090", targets: run/${name}.json }`,
  ].join('\n');
const REGION = [
  '      eu:',
  '        registry: 127.0.0.1:5000/shop/web',
  '        runtime: podman',
  '        router: { haproxy: run/eu.sock, backend: web }',
  '        metrics: { prometheus: "http://127.0.0.1:9090", targets: run/eu.json }',
].join('\n');

function problems(text: string): ConfigProblem[] {
  const { config, problems } = parseConfig(text, FILE);
  expect(config).toBeUndefined();
  return problems;
}

describe('image.base', () => {
  it('is kept when pinned by digest', () => {
    const { config } = parseConfig(project(''), FILE);
    expect(config?.targets.get('web')?.image?.base).toBe(`reg.example.com/base/node@${D}`);
  });

  it('is refused with a tag alone, pointing at airlock pin, at its line and column', () => {
    const p = problems(project('', '{ base: "reg.example.com/base/node:20" }'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ path: 'targets.web.image.base', line: 8 });
    expect(p[0]!.message).toContain('not pinned by digest');
    expect(p[0]!.fix).toContain('airlock pin');
  });
});

describe('environments', () => {
  it('reads regions in file order, defaults for rollout and gates, paths from the project', () => {
    const text = project(
      [
        'environments:',
        '  prod:',
        '    policy: policy.yaml',
        '    regions:',
        REGION,
        region('us'),
      ].join('\n'),
    );
    const { config, problems: p } = parseConfig(text, FILE);
    expect(p).toEqual([]);
    const env = config!.environments!.get('prod')!;
    expect(env.policy).toBe('/proj/policy.yaml');
    expect(env.regions.map((r) => r.name)).toEqual(['eu', 'us']);
    expect(env.regions[0]!.router).toEqual({
      socket: '/proj/run/eu.sock',
      backend: 'web',
      servers: ['a', 'b'],
    });
    expect(env.steps).toEqual([5, 25, 50, 100]);
    expect(env.gates.map((g) => [g.name, g.onNoData])).toEqual([
      ['error-rate', 'fail'],
      ['latency-p99', 'fail'],
    ]);
  });

  it('reports every problem at once with file:line:col, a fix and did-you-mean', () => {
    const text = project(
      [
        'environments:',
        '  prod:',
        '    policy: policy.yaml',
        '    regions:',
        '      eu:',
        '        registry: 127.0.0.1:5000/shop/web:latest',
        '        runtime: docker',
        '        routr: { haproxy: run/eu.sock, backend: web }',
        '        metrics: { prometheus: "http://127.0.0.1:9090" }',
        '    rollout: { steps: [5, 50, 40], hold: forever }',
        '    gates:',
        '      - { name: error-rate, onNoData: ignore }',
        '      - { name: custom }',
      ].join('\n'),
    );
    const p = problems(text);
    const byPath = new Map(p.map((x) => [x.path, x]));
    expect(byPath.get('environments.prod.regions.eu.registry')?.message).toContain(
      'not a registry repository',
    );
    expect(byPath.get('environments.prod.regions.eu.runtime')?.fix).toContain('podman');
    expect(byPath.get('environments.prod.regions.eu.routr')?.message).toContain(
      'did you mean "router"',
    );
    expect(byPath.get('environments.prod.regions.eu.routr')?.line).toBe(16);
    expect(byPath.get('environments.prod.rollout.steps[2]')?.message).toContain('does not rise');
    expect(byPath.get('environments.prod.rollout.hold')).toBeDefined();
    expect(byPath.get('environments.prod.gates[0].onNoData')?.fix).toContain(
      'no data never passes',
    );
    expect(byPath.get('environments.prod.gates[1].name')?.message).toContain('no query');
    for (const x of p) expect(x.file).toBe(FILE);
  });

  it('refuses steps that never reach 100', () => {
    const text = project(
      [
        'environments:',
        '  prod:',
        '    policy: p.yaml',
        '    regions:',
        REGION,
        '    rollout: { steps: [10, 50] }',
      ].join('\n'),
    );
    expect(
      problems(text)
        .map((x) => x.message)
        .join('\n'),
    ).toContain('not 100');
  });
});
