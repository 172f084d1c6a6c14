import { execFile } from 'node:child_process';
import { AirlockError } from '../core/errors.js';
import type { DeployErrorCode } from './errors.js';

/*
 * The podman runtime, driven through its CLI. Rootful podman on hosts with
 * a hybrid cgroup layout needs two settings that its defaults get wrong:
 *   --runtime runc      crun refuses the hybrid cgroup v1/v2 layout;
 *   --ulimit nofile/nproc below the hard limits: the defaults ask for more
 *                       than the hard limit and fail with "setrlimit:
 *                       Operation not permitted".
 * scripts/setup.sh checks both.
 */

/** Limits asked of every container: below the hard limits of the machines Airlock runs on. */
export const PODMAN_ULIMITS = { nofile: 4096, nproc: 2048 } as const;

/** Flags of every `podman run`. */
export const PODMAN_RUN_FLAGS: readonly string[] = [
  '--runtime',
  'runc',
  '--ulimit',
  `nofile=${PODMAN_ULIMITS.nofile}:${PODMAN_ULIMITS.nofile}`,
  '--ulimit',
  `nproc=${PODMAN_ULIMITS.nproc}:${PODMAN_ULIMITS.nproc}`,
];

/** Labels Airlock puts on its containers: how status finds them without trusting its own records. */
export const LABELS = {
  environment: 'dev.airlock.environment',
  region: 'dev.airlock.region',
  slot: 'dev.airlock.slot',
  digest: 'dev.airlock.digest',
} as const;

/** A container as the runtime reports it. */
export interface RuntimeContainer {
  name: string;
  /** The digest podman pulled the image by (a manifest, or an index for multi-platform images). */
  imageDigest: string;
  running: boolean;
  labels: Record<string, string>;
}

/** What the deploy stage needs from a container runtime. */
export interface Runtime {
  /** Pulls `image` (`repo@sha256:…`) and starts it detached; returns the container name. */
  start(opts: {
    name: string;
    image: string;
    env: Record<string, string>;
    labels: Record<string, string>;
    insecure: boolean;
  }): Promise<void>;
  stop(name: string): Promise<void>;
  /** Every container (running or not) carrying the label `key=value`. */
  list(label: { key: string; value: string }): Promise<RuntimeContainer[]>;
  /** One container by name, or undefined when there is none. */
  inspect(name: string): Promise<RuntimeContainer | undefined>;
}

function run(args: string[], timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'podman',
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(Object.assign(new Error(err.message), err, { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/** A podman failure in words, with the setting of this machine it most likely needs. */
export function podmanError(args: string[], err: unknown): AirlockError<DeployErrorCode> {
  const e = err as { code?: unknown; stderr?: string; message?: string };
  const text = `${e.stderr ?? ''}${e.message ?? ''}`;
  let hint = 'Run the podman command by hand to see its full output.';
  if (e.code === 'ENOENT')
    hint = 'Install podman and runc: apt-get install podman runc (scripts/setup.sh does).';
  else if (/setrlimit|rlimit/i.test(text))
    hint = `The container's ulimits exceed this machine's hard limits: Airlock asks for nofile=${PODMAN_ULIMITS.nofile} and nproc=${PODMAN_ULIMITS.nproc}; raise the hard limits (ulimit -Hn / -Hu) to at least these.`;
  else if (/crun|cgroup/i.test(text))
    hint =
      'crun refuses this cgroup layout: install runc (apt-get install runc); Airlock runs podman with --runtime runc.';
  else if (/http: server gave HTTP response to HTTPS client|tls/i.test(text))
    hint =
      'The registry speaks plain http: pass --insecure <host:port> (or AIRLOCK_INSECURE_REGISTRIES).';
  const first = text.split('\n').find((l) => l.trim() !== '') ?? 'failed';
  return new AirlockError<DeployErrorCode>(
    'RUNTIME_FAILED',
    `podman ${args[0] ?? ''}: ${first.trim()}`,
    {
      hint,
      details: { args },
    },
  );
}

interface InspectJson {
  Name?: string;
  ImageDigest?: string;
  State?: { Running?: boolean };
  Config?: { Labels?: Record<string, string> | null };
}

function container(j: InspectJson): RuntimeContainer {
  return {
    name: (j.Name ?? '').replace(/^\//, ''),
    imageDigest: j.ImageDigest ?? '',
    running: j.State?.Running === true,
    labels: j.Config?.Labels ?? {},
  };
}

/** The runtime through the podman CLI. */
export const podmanRuntime: Runtime = {
  async start(o) {
    const args = [
      'run',
      '-d',
      ...PODMAN_RUN_FLAGS,
      '--name',
      o.name,
      '--network',
      'host',
      ...(o.insecure ? ['--tls-verify=false'] : []),
      ...Object.entries(o.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      ...Object.entries(o.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      o.image,
    ];
    try {
      await run(args);
    } catch (err) {
      // A half-created container would block the name: remove it before reporting.
      await run(['rm', '-f', '-t', '0', o.name]).catch(() => undefined);
      throw podmanError(args, err);
    }
  },
  async stop(name) {
    const args = ['rm', '-f', '-t', '2', name];
    try {
      await run(args);
    } catch (err) {
      throw podmanError(args, err);
    }
  },
  async list(label) {
    const args = [
      'ps',
      '-a',
      '--filter',
      `label=${label.key}=${label.value}`,
      '--format',
      '{{.Names}}',
    ];
    let names: string[];
    try {
      names = (await run(args)).stdout.split('\n').filter((n) => n.trim() !== '');
    } catch (err) {
      throw podmanError(args, err);
    }
    const out: RuntimeContainer[] = [];
    for (const n of names) {
      const c = await this.inspect(n);
      if (c) out.push(c);
    }
    return out;
  },
  async inspect(name) {
    const args = ['container', 'inspect', name];
    let stdout: string;
    try {
      stdout = (await run(args)).stdout;
    } catch (err) {
      const text = String((err as { stderr?: string }).stderr ?? '');
      if (/no such container/i.test(text)) return undefined;
      throw podmanError(args, err);
    }
    const list = JSON.parse(stdout) as InspectJson[];
    return list[0] ? container(list[0]) : undefined;
  },
};
