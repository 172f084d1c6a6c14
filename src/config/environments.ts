import { resolve as resolvePath } from 'node:path';
import type { PathSegment } from './locate.js';
import type { ProblemList } from './problems.js';
import { refProblem } from './rules.js';
import { didYouMean } from './suggest.js';

/*
 * `environments:` in airlock.yaml: where `airlock deploy` rolls an artifact
 * out, region after region, and what it checks on the way.
 *
 *   environments:
 *     prod:
 *       policy: policy.yaml                 # what `airlock verify` demands first
 *       regions:                            # rollout order = file order
 *         eu:
 *           registry: registry.eu.example.com/shop/web
 *           runtime: podman
 *           router: { haproxy: run/eu.sock, backend: web }
 *           metrics: { prometheus: "http://127.0.0.1:9090", targets: run/eu-targets.json }
 *       rollout: { steps: [5, 25, 50, 100], hold: 30s, readiness: { path: /healthz, timeout: 30s } }
 *       gates:
 *         - { name: error-rate, max: 0.01, minRequests: 50 }
 *         - { name: latency-p99, max: 0.3, onNoData: extend, extendLimit: 2 }
 *
 * Checked here, on the parsed YAML value, with every problem located at its
 * key or value (file:line:col) and a did-you-mean for misspelt keys.
 */

/** What a gate does when its query has no data, NaN, or too few requests: never a silent pass. */
export type OnNoData = 'fail' | 'pause' | 'extend';

/** One metric gate: a PromQL query (or a built-in's name) and its thresholds. */
export interface GateConfig {
  name: string;
  /** PromQL with `{{backend}}`, `{{server}}`, `{{region}}`, `{{digest}}` and `{{window}}` placeholders. */
  query: string;
  /** The gate fails when the value is above `max` (or below `min`). */
  max?: number;
  min?: number;
  onNoData: OnNoData;
  /** How many times `extend` holds a step again before the gate fails. */
  extendLimit: number;
  /** Requests the canary must have received in the window; fewer is "no data". */
  minRequests: number;
}

/** One region: its registry repository, runtime, router and metrics source. */
export interface RegionConfig {
  name: string;
  /** `host[:port]/repository`: the artifact is pushed there by digest and run from there. */
  repository: string;
  runtime: 'podman';
  /** HAProxy runtime API socket (absolute) and the backend holding the two version slots. */
  router: { socket: string; backend: string; servers: [string, string] };
  /** Prometheus base URL; `targets`: the file_sd file Airlock writes its containers into (absolute). */
  metrics: { prometheus: string; targets?: string };
}

/** One environment with every default filled in. */
export interface EnvironmentConfig {
  name: string;
  /** Absolute path of the verification policy. */
  policy: string;
  regions: RegionConfig[];
  /** Canary weights in percent, ascending, ending at 100. */
  steps: number[];
  /** How long each step is held before its gates are read. */
  holdMs: number;
  readiness: { path: string; timeoutMs: number };
  /** `all` (default): a failure anywhere rolls back every region this rollout moved. */
  abort: 'all' | 'region';
  gates: GateConfig[];
}

/** The request count of the canary server over the window (the minimum-traffic guard). */
export const REQUESTS_QUERY =
  'sum(increase(haproxy_server_http_responses_total{proxy="{{backend}}",server="{{server}}"}[{{window}}]))';

/** Queries for gates named by a built-in name only. */
export const BUILTIN_GATES: Readonly<Record<string, { query: string; max: number }>> = {
  // 5xx share of the canary server, from HAProxy's own counters.
  'error-rate': {
    query:
      'sum(rate(haproxy_server_http_responses_total{proxy="{{backend}}",server="{{server}}",code="5xx"}[{{window}}])) / sum(rate(haproxy_server_http_responses_total{proxy="{{backend}}",server="{{server}}"}[{{window}}]))',
    max: 0.05,
  },
  // p99 latency from the service's own histogram, scraped through the targets file.
  'latency-p99': {
    query:
      'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{airlock_region="{{region}}",airlock_digest="{{digest}}"}[{{window}}])))',
    max: 0.5,
  },
};

const KEYS = {
  environment: ['policy', 'regions', 'rollout', 'gates'],
  region: ['registry', 'runtime', 'router', 'metrics'],
  router: ['haproxy', 'backend', 'servers'],
  metrics: ['prometheus', 'targets'],
  rollout: ['steps', 'hold', 'readiness', 'abort'],
  readiness: ['path', 'timeout'],
  gate: ['name', 'query', 'max', 'min', 'onNoData', 'extendLimit', 'minRequests'],
} as const;

const DEFAULT_STEPS = [5, 25, 50, 100];
const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/;

/** Milliseconds of `500ms`, `30s`, `2m` or a number of seconds; undefined when not a positive duration. */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value > 0 ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  return ms >= 1 && Number.isFinite(ms) ? Math.round(ms) : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks `environments:` and returns the model when it has no problem (undefined when absent or wrong). */
export function readEnvironments(
  problems: ProblemList,
  raw: unknown,
  root: string,
): Map<string, EnvironmentConfig> | undefined {
  if (raw === undefined) return new Map();
  const before = problems.items.length;
  const c = new Checker(problems, root);
  const out = new Map<string, EnvironmentConfig>();
  if (!isRecord(raw)) {
    c.add(
      ['environments'],
      'value',
      '"environments" must be a mapping of environment names',
      'write environments: { prod: { policy: policy.yaml, regions: { … } } }',
    );
    return undefined;
  }
  for (const [name, env] of Object.entries(raw)) {
    const at: PathSegment[] = ['environments', name];
    if (!NAME.test(name))
      c.add(
        at,
        'key',
        `environment name "${name}" is not a lowercase name`,
        'use lowercase letters, digits and -, e.g. prod',
      );
    const model = c.environment(at, name, env);
    if (model) out.set(name, model);
  }
  return problems.items.length === before ? out : undefined;
}

class Checker {
  constructor(
    private readonly problems: ProblemList,
    private readonly root: string,
  ) {}

  add(path: readonly PathSegment[], anchor: 'key' | 'value', message: string, fix: string): void {
    this.problems.add(path, anchor, message, fix);
  }

  /** A mapping at `path` with only `known` keys; undefined (reported) when not a mapping. */
  map(
    path: PathSegment[],
    value: unknown,
    known: readonly string[] | undefined,
    what: string,
    example: string,
  ): Record<string, unknown> | undefined {
    if (!isRecord(value)) {
      this.add(
        path,
        value === undefined ? 'key' : 'value',
        value === undefined
          ? `missing required key "${String(path[path.length - 1])}"`
          : `${what} must be a mapping`,
        `write ${example}`,
      );
      return undefined;
    }
    for (const key of known === undefined ? [] : Object.keys(value)) {
      if (known!.includes(key)) continue;
      const hit = didYouMean(key, known!);
      this.add(
        [...path, key],
        'key',
        `unknown key "${key}" in ${what}${hit === undefined ? '' : `; did you mean "${hit}"?`}`,
        hit === undefined
          ? `remove it; ${what} allows ${known!.join(', ')}`
          : `rename it to "${hit}"`,
      );
    }
    return value;
  }

  string(path: PathSegment[], value: unknown, example: string): string | undefined {
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
    this.add(
      path,
      value === undefined ? 'key' : 'value',
      value === undefined
        ? `missing required key "${String(path[path.length - 1])}"`
        : `"${String(path[path.length - 1])}" must be a non-empty string`,
      `write ${example}`,
    );
    return undefined;
  }

  number(path: PathSegment[], value: unknown, example: string): number | undefined {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    this.add(
      path,
      'value',
      `"${String(path[path.length - 1])}" must be a number, not ${JSON.stringify(value)}`,
      `write ${example}`,
    );
    return undefined;
  }

  environment(at: PathSegment[], name: string, value: unknown): EnvironmentConfig | undefined {
    const env = this.map(
      at,
      value,
      KEYS.environment,
      `environment "${name}"`,
      'prod: { policy: policy.yaml, regions: { eu: { … } } }',
    );
    if (!env) return undefined;
    const policy = this.string(
      [...at, 'policy'],
      env.policy,
      'policy: policy.yaml (the file `airlock verify --policy` reads)',
    );
    const regions: RegionConfig[] = [];
    const rawRegions = this.map(
      [...at, 'regions'],
      env.regions,
      undefined,
      'regions',
      'regions: { eu: { registry: …, runtime: podman, router: …, metrics: … } }',
    );
    // Region names are keys of their own: check them here instead of as unknown keys.
    if (rawRegions) {
      for (const [r, region] of Object.entries(rawRegions)) {
        if (!NAME.test(r))
          this.add(
            [...at, 'regions', r],
            'key',
            `region name "${r}" is not a lowercase name`,
            'use lowercase letters, digits and -, e.g. eu-west',
          );
        const model = this.region([...at, 'regions', r], r, region);
        if (model) regions.push(model);
      }
      if (Object.keys(rawRegions).length === 0)
        this.add(
          [...at, 'regions'],
          'value',
          `environment "${name}" has no region`,
          'declare at least one region under regions:',
        );
    }
    const rollout =
      env.rollout === undefined
        ? {}
        : this.map(
            [...at, 'rollout'],
            env.rollout,
            KEYS.rollout,
            'rollout',
            'rollout: { steps: [5, 25, 50, 100], hold: 30s }',
          );
    const steps = this.steps([...at, 'rollout', 'steps'], rollout?.steps);
    let holdMs = 30_000;
    if (rollout?.hold !== undefined) {
      const h = parseDurationMs(rollout.hold);
      if (h === undefined)
        this.add(
          [...at, 'rollout', 'hold'],
          'value',
          `"hold" must be a duration, not ${JSON.stringify(rollout.hold)}`,
          'write hold: 30s (ms, s or m)',
        );
      else holdMs = h;
    }
    const readiness = { path: '/healthz', timeoutMs: 30_000 };
    if (rollout?.readiness !== undefined) {
      const r = this.map(
        [...at, 'rollout', 'readiness'],
        rollout.readiness,
        KEYS.readiness,
        'readiness',
        'readiness: { path: /healthz, timeout: 30s }',
      );
      if (r?.path !== undefined) {
        const p = this.string([...at, 'rollout', 'readiness', 'path'], r.path, 'path: /healthz');
        if (p !== undefined && !p.startsWith('/'))
          this.add(
            [...at, 'rollout', 'readiness', 'path'],
            'value',
            `readiness path "${p}" must start with /`,
            `write path: /${p}`,
          );
        else if (p !== undefined) readiness.path = p;
      }
      if (r?.timeout !== undefined) {
        const t = parseDurationMs(r.timeout);
        if (t === undefined)
          this.add(
            [...at, 'rollout', 'readiness', 'timeout'],
            'value',
            `"timeout" must be a duration, not ${JSON.stringify(r.timeout)}`,
            'write timeout: 30s',
          );
        else readiness.timeoutMs = t;
      }
    }
    let abort: 'all' | 'region' = 'all';
    if (rollout?.abort !== undefined) {
      if (rollout.abort === 'all' || rollout.abort === 'region') abort = rollout.abort;
      else
        this.add(
          [...at, 'rollout', 'abort'],
          'value',
          `"abort" must be all or region, not ${JSON.stringify(rollout.abort)}`,
          'write abort: all (roll back every region this rollout moved) or abort: region',
        );
    }
    const gates = this.gates([...at, 'gates'], env.gates, regions);
    if (policy === undefined || !rawRegions || steps === undefined || gates === undefined)
      return undefined;
    return {
      name,
      policy: resolvePath(this.root, policy),
      regions,
      steps,
      holdMs,
      readiness,
      abort,
      gates,
    };
  }

  steps(path: PathSegment[], value: unknown): number[] | undefined {
    if (value === undefined) return [...DEFAULT_STEPS];
    const fix = 'write steps: [5, 25, 50, 100] (percent of traffic, rising, ending at 100)';
    if (!Array.isArray(value) || value.length === 0) {
      this.add(path, 'value', '"steps" must be a non-empty list of percentages', fix);
      return undefined;
    }
    let ok = true;
    const list: unknown[] = value;
    list.forEach((v, i) => {
      const prev = i === 0 ? 0 : list[i - 1];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100) {
        this.add(
          [...path, i],
          'value',
          `step ${JSON.stringify(v)} is not a whole percentage from 1 to 100`,
          fix,
        );
        ok = false;
      } else if (typeof prev === 'number' && v <= prev) {
        this.add(
          [...path, i],
          'value',
          `step ${v} does not rise above the step before it (${prev})`,
          fix,
        );
        ok = false;
      }
    });
    if (ok && value[value.length - 1] !== 100) {
      this.add(
        [...path, value.length - 1],
        'value',
        `the last step is ${String(value[value.length - 1])}, not 100: the rollout would never finish`,
        fix,
      );
      ok = false;
    }
    return ok ? (value as number[]) : undefined;
  }

  region(at: PathSegment[], name: string, value: unknown): RegionConfig | undefined {
    const r = this.map(
      at,
      value,
      KEYS.region,
      `region "${name}"`,
      'eu: { registry: registry.example.com/shop/web, runtime: podman, router: { haproxy: run/eu.sock, backend: web }, metrics: { prometheus: "http://127.0.0.1:9090" } }',
    );
    if (!r) return undefined;
    const repository = this.string(
      [...at, 'registry'],
      r.registry,
      'registry: registry.example.com/shop/web',
    );
    if (repository !== undefined) {
      const why = refProblem(repository);
      if (why !== undefined || /[@]|:[^/]*$/.test(repository.replace(/^[^/]*\//, '')))
        this.add(
          [...at, 'registry'],
          'value',
          `"${repository}" is not a registry repository${why ? `: ${why}` : ' (no tag or digest: the artifact is pushed by digest)'}`,
          'write registry: <host[:port]>/<repository>, e.g. registry.example.com/shop/web',
        );
    }
    if (r.runtime !== undefined && r.runtime !== 'podman')
      this.add(
        [...at, 'runtime'],
        'value',
        `runtime ${JSON.stringify(r.runtime)} is not supported; this Airlock runs podman`,
        'write runtime: podman (or emit manifests with `airlock deploy --emit kubernetes`)',
      );
    const router = this.map(
      [...at, 'router'],
      r.router,
      KEYS.router,
      'router',
      'router: { haproxy: run/eu.sock, backend: web }',
    );
    const socket = router
      ? this.string(
          [...at, 'router', 'haproxy'],
          router.haproxy,
          'haproxy: run/eu.sock (the stats socket, level admin)',
        )
      : undefined;
    const backend = router
      ? this.string([...at, 'router', 'backend'], router.backend, 'backend: web')
      : undefined;
    let servers: [string, string] = ['a', 'b'];
    if (router?.servers !== undefined) {
      const s = router.servers;
      if (
        Array.isArray(s) &&
        s.length === 2 &&
        s.every((x) => typeof x === 'string' && x !== '') &&
        s[0] !== s[1]
      )
        servers = [s[0] as string, s[1] as string];
      else
        this.add(
          [...at, 'router', 'servers'],
          'value',
          '"servers" must name the two server slots of the backend',
          'write servers: [a, b] (two different server names of the backend)',
        );
    }
    const metrics = this.map(
      [...at, 'metrics'],
      r.metrics,
      KEYS.metrics,
      'metrics',
      'metrics: { prometheus: "http://127.0.0.1:9090" }',
    );
    const prometheus = metrics
      ? this.string(
          [...at, 'metrics', 'prometheus'],
          metrics.prometheus,
          'prometheus: "http://127.0.0.1:9090"',
        )
      : undefined;
    if (prometheus !== undefined && !/^https?:\/\/[^/]+/.test(prometheus))
      this.add(
        [...at, 'metrics', 'prometheus'],
        'value',
        `"${prometheus}" is not an http(s) URL`,
        'write prometheus: "http://127.0.0.1:9090"',
      );
    const targets =
      metrics?.targets === undefined
        ? undefined
        : this.string(
            [...at, 'metrics', 'targets'],
            metrics.targets,
            'targets: run/eu-targets.json',
          );
    if (
      repository === undefined ||
      socket === undefined ||
      backend === undefined ||
      prometheus === undefined
    )
      return undefined;
    return {
      name,
      repository,
      runtime: 'podman',
      router: { socket: resolvePath(this.root, socket), backend, servers },
      metrics: {
        prometheus: prometheus.replace(/\/+$/, ''),
        ...(targets === undefined ? {} : { targets: resolvePath(this.root, targets) }),
      },
    };
  }

  gates(path: PathSegment[], value: unknown, regions: RegionConfig[]): GateConfig[] | undefined {
    if (value === undefined) {
      // Defaults: the error rate always; p99 latency where the service's metrics are scraped.
      const out: GateConfig[] = [gateDefaults('error-rate')];
      if (regions.length > 0 && regions.every((r) => r.metrics.targets !== undefined))
        out.push(gateDefaults('latency-p99'));
      return out;
    }
    if (!Array.isArray(value)) {
      this.add(
        path,
        'value',
        '"gates" must be a list',
        'write gates: [{ name: error-rate, max: 0.01 }]',
      );
      return undefined;
    }
    const out: GateConfig[] = [];
    let ok = true;
    const seen = new Set<string>();
    value.forEach((g, i) => {
      const at = [...path, i];
      const gate = this.map(at, g, KEYS.gate, 'a gate', '{ name: error-rate, max: 0.01 }');
      if (!gate) return void (ok = false);
      const name = this.string([...at, 'name'], gate.name, 'name: error-rate');
      if (name === undefined) return void (ok = false);
      if (seen.has(name)) {
        this.add(
          [...at, 'name'],
          'value',
          `gate "${name}" is declared twice`,
          'give each gate its own name',
        );
        ok = false;
      }
      seen.add(name);
      const builtin = BUILTIN_GATES[name];
      let query = builtin?.query;
      if (gate.query !== undefined)
        query = this.string([...at, 'query'], gate.query, 'query: "<PromQL>"');
      if (query === undefined) {
        const hit = didYouMean(name, Object.keys(BUILTIN_GATES));
        this.add(
          [...at, 'name'],
          'value',
          `gate "${name}" has no query and is not a built-in gate${hit ? `; did you mean "${hit}"?` : ''}`,
          `add query: "<PromQL>", or use a built-in: ${Object.keys(BUILTIN_GATES).join(', ')}`,
        );
        return void (ok = false);
      }
      const max =
        gate.max === undefined
          ? gate.min === undefined
            ? builtin?.max
            : undefined
          : this.number([...at, 'max'], gate.max, 'max: 0.01');
      const min =
        gate.min === undefined ? undefined : this.number([...at, 'min'], gate.min, 'min: 1');
      if (max === undefined && min === undefined) {
        this.add(
          at,
          'value',
          `gate "${name}" has no threshold`,
          'add max: <value> (fails above it) or min: <value> (fails below it)',
        );
        return void (ok = false);
      }
      let onNoData: OnNoData = 'fail';
      if (gate.onNoData !== undefined) {
        if (gate.onNoData === 'fail' || gate.onNoData === 'pause' || gate.onNoData === 'extend')
          onNoData = gate.onNoData;
        else {
          this.add(
            [...at, 'onNoData'],
            'value',
            `"onNoData" must be fail, pause or extend, not ${JSON.stringify(gate.onNoData)}`,
            'write onNoData: fail (roll back), pause (wait for --resume/--abort) or extend (hold longer); no data never passes',
          );
          ok = false;
        }
      }
      const count = (key: 'extendLimit' | 'minRequests', dflt: number): number => {
        const v = gate[key];
        if (v === undefined) return dflt;
        if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
        this.add(
          [...at, key],
          'value',
          `"${key}" must be a whole number, not ${JSON.stringify(v)}`,
          `write ${key}: ${dflt}`,
        );
        ok = false;
        return dflt;
      };
      out.push({
        name,
        query,
        ...(max === undefined ? {} : { max }),
        ...(min === undefined ? {} : { min }),
        onNoData,
        extendLimit: count('extendLimit', 2),
        minRequests: count('minRequests', 10),
      });
    });
    return ok ? out : undefined;
  }
}

function gateDefaults(name: 'error-rate' | 'latency-p99'): GateConfig {
  const b = BUILTIN_GATES[name]!;
  return { name, query: b.query, max: b.max, onNoData: 'fail', extendLimit: 2, minRequests: 10 };
}
