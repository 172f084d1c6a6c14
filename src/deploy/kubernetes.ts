import type { EnvironmentConfig, RegionConfig } from '../config/index.js';
import type { Digest } from '../core/digest.js';
import { renderQuery } from './prometheus.js';

/*
 * The same rollout as manifests for an existing engine: per region, a
 * Deployment and Service pair, an Argo Rollouts `Rollout` that takes the
 * Deployment's pods over (workloadRef) with the same canary steps, and an
 * `AnalysisTemplate` carrying the same Prometheus queries and thresholds,
 * images by digest. No cluster is contacted.
 */

/** One Kubernetes object as plain JSON. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string } & Record<string, unknown>;
} & Record<string, unknown>;

const PROM_QUERY_NOTE =
  'Airlock gate; in Kubernetes the HAProxy series are replaced by the service histogram and request counter';

/** The objects of one region's rollout. */
export function kubernetesObjects(opts: {
  app: string;
  env: EnvironmentConfig;
  region: RegionConfig;
  digest: Digest;
  port: number;
}): KubeObject[] {
  const { app, env, region } = opts;
  const name = `${app}-${env.name}-${region.name}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const labels = { 'app.kubernetes.io/name': name, 'airlock.dev/environment': env.name };
  const image = `${region.repository}@${opts.digest}`;
  const window = `${Math.max(1, Math.ceil(env.holdMs / 1000))}s`;
  const vars = {
    backend: name,
    server: 'canary',
    region: region.name,
    digest: opts.digest,
    environment: env.name,
    window,
  };
  const pod = {
    metadata: { labels },
    spec: {
      containers: [
        {
          name: 'app',
          image,
          env: [
            { name: 'PORT', value: String(opts.port) },
            { name: 'HOST', value: '0.0.0.0' },
          ],
          ports: [{ name: 'http', containerPort: opts.port }],
          readinessProbe: {
            httpGet: { path: env.readiness.path, port: opts.port },
            timeoutSeconds: Math.max(1, Math.ceil(env.readiness.timeoutMs / 1000)),
          },
        },
      ],
    },
  };
  const steps: Record<string, unknown>[] = [];
  for (const w of env.steps) {
    steps.push({ setWeight: w });
    if (w < 100) {
      steps.push({ pause: { duration: window } });
      steps.push({ analysis: { templates: [{ templateName: `${name}-gates` }] } });
    }
  }
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels },
      spec: { replicas: 0, selector: { matchLabels: labels }, template: pod },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, labels },
      spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: opts.port }] },
    },
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name, labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        strategy: { canary: { steps } },
      },
    },
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: {
        name: `${name}-gates`,
        labels,
        annotations: { 'airlock.dev/note': PROM_QUERY_NOTE },
      },
      spec: {
        metrics: env.gates.map((g) => {
          const cond: string[] = ['len(result) > 0', '!isNaN(result[0])'];
          if (g.max !== undefined) cond.push(`result[0] <= ${g.max}`);
          if (g.min !== undefined) cond.push(`result[0] >= ${g.min}`);
          return {
            name: g.name,
            // No data fails, as in Airlock (failureLimit 0, inconclusive counted as failure).
            successCondition: cond.join(' && '),
            failureLimit: 0,
            inconclusiveLimit: 0,
            provider: {
              prometheus: { address: region.metrics.prometheus, query: renderQuery(g.query, vars) },
            },
          };
        }),
      },
    },
  ];
}
