// The emitted manifests checked with models that carry the official schemas
// (kubernetes-models for apps/v1 and v1, @kubernetes-models/argo-rollouts for
// the Rollout and AnalysisTemplate CRDs): validate() throws on any violation.
import { AnalysisTemplate, Rollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { BUILTIN_GATES, type EnvironmentConfig } from '../config/index.js';
import { kubernetesObjects, type KubeObject } from './kubernetes.js';

const DIGEST = `sha256:${'c'.repeat(64)}` as const;
const env: EnvironmentConfig = {
  name: 'prod',
  policy: '/p/policy.yaml',
  regions: [
    {
      name: 'eu',
      repository: 'registry.example.com/shop/web',
      runtime: 'podman',
      router: { socket: '/run/eu.sock', backend: 'web', servers: ['a', 'b'] },
      metrics: { prometheus: 'http://prometheus.example:9090' },
    },
  ],
  steps: [5, 25, 50, 100],
  holdMs: 30_000,
  readiness: { path: '/healthz', timeoutMs: 10_000 },
  abort: 'all',
  gates: [
    {
      name: 'error-rate',
      query: BUILTIN_GATES['error-rate']!.query,
      max: 0.01,
      onNoData: 'fail',
      extendLimit: 2,
      minRequests: 10,
    },
    {
      name: 'custom',
      query: 'sum(up{job="web"})',
      min: 1,
      onNoData: 'fail',
      extendLimit: 2,
      minRequests: 0,
    },
  ],
};

const objects = (): KubeObject[] =>
  kubernetesObjects({ app: 'shop', env, region: env.regions[0]!, digest: DIGEST, port: 8080 });

const validate = (o: KubeObject): void => {
  const models: Record<string, (o: KubeObject) => { validate(): void }> = {
    Deployment: (x) => new Deployment(x),
    Service: (x) => new Service(x),
    Rollout: (x) => new Rollout(x as never),
    AnalysisTemplate: (x) => new AnalysisTemplate(x as never),
  };
  models[o.kind]!(o).validate();
};

describe('kubernetesObjects', () => {
  it('writes a Deployment, Service, Rollout and AnalysisTemplate that pass the official schemas', () => {
    const all = objects();
    expect(all.map((o) => o.kind)).toEqual([
      'Deployment',
      'Service',
      'Rollout',
      'AnalysisTemplate',
    ]);
    for (const o of all) expect(() => validate(o), o.kind).not.toThrow();
  });

  it('is caught by the schema when an object is wrong (the validation can fail)', () => {
    const bad = objects()[2]!;
    (bad.spec as { replicas: unknown }).replicas = 'two';
    expect(() => validate(bad)).toThrow();
  });

  it('runs the image by digest with the same canary steps and the same queries', () => {
    const [deployment, , rollout, analysis] = objects() as [
      KubeObject,
      KubeObject,
      KubeObject,
      KubeObject,
    ];
    expect(JSON.stringify(deployment)).toContain(`registry.example.com/shop/web@${DIGEST}`);
    const steps = (rollout.spec as { strategy: { canary: { steps: Record<string, unknown>[] } } })
      .strategy.canary.steps;
    expect(steps.filter((s) => 'setWeight' in s).map((s) => s.setWeight)).toEqual([5, 25, 50, 100]);
    const metrics = (
      analysis.spec as {
        metrics: {
          name: string;
          successCondition: string;
          provider: { prometheus: { query: string } };
        }[];
      }
    ).metrics;
    expect(metrics.map((m) => m.name)).toEqual(['error-rate', 'custom']);
    expect(metrics[0]!.provider.prometheus.query).toContain('haproxy_server_http_responses_total');
    expect(metrics[0]!.provider.prometheus.query).toContain('[30s]');
    // No data never passes: the condition requires a result and rejects NaN.
    expect(metrics[0]!.successCondition).toBe(
      'len(result) > 0 && !isNaN(result[0]) && result[0] <= 0.01',
    );
    expect(metrics[1]!.successCondition).toContain('result[0] >= 1');
  });
});
