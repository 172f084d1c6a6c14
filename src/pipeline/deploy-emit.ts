import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config/index.js';
import { AirlockError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { kubernetesObjects, type DeployErrorCode } from '../deploy/index.js';
import { resolveLocal } from '../registry/index.js';
import { openStore } from './registry-context.js';

export interface EmitRequest {
  project?: string | undefined;
  environment: string;
  artifact: string;
  format: string;
  out: string;
  store?: string | undefined;
  events?: EventSink | undefined;
  /** The port the service listens on in its pod (default: the image's first exposed port, else 8080). */
  port?: number | undefined;
}

/** `airlock deploy --emit kubernetes`: writes one multi-document YAML (JSON documents) per region. */
export async function runEmit(req: EmitRequest): Promise<{ files: string[]; objects: number }> {
  if (req.format !== 'kubernetes')
    throw new AirlockError<DeployErrorCode>(
      'UNKNOWN_ENVIRONMENT',
      `--emit ${req.format} is not a format Airlock writes`,
      {
        hint: 'Use --emit kubernetes.',
      },
    );
  const project = await loadConfig(req.project ?? process.cwd());
  const env = project.environments?.get(req.environment);
  if (env === undefined)
    throw new AirlockError<DeployErrorCode>(
      'UNKNOWN_ENVIRONMENT',
      `${project.file} declares no environment "${req.environment}"`,
      {
        hint: 'Declare it under environments: in airlock.yaml.',
      },
    );
  const store = await openStore(req);
  let digest;
  let port = req.port ?? 8080;
  try {
    const desc = await resolveLocal(store, req.artifact, 'local store');
    digest = desc.digest;
    const manifest = JSON.parse((await store.getBytes(digest)).toString('utf8')) as {
      config?: { digest?: string };
    };
    if (req.port === undefined && typeof manifest.config?.digest === 'string') {
      const config = JSON.parse(
        (await store.getBytes(manifest.config.digest as `sha256:${string}`)).toString('utf8'),
      ) as {
        config?: { ExposedPorts?: Record<string, unknown> };
      };
      const first = Object.keys(config.config?.ExposedPorts ?? {})[0];
      if (first !== undefined && /^\d+/.test(first)) port = Number(/^\d+/.exec(first)![0]);
    }
  } finally {
    store.close();
  }
  const out = resolve(req.out);
  await mkdir(out, { recursive: true });
  const files: string[] = [];
  let objects = 0;
  for (const region of env.regions) {
    const docs = kubernetesObjects({ app: project.name, env, region, digest, port });
    objects += docs.length;
    const file = join(out, `${env.name}-${region.name}.yaml`);
    // JSON is YAML: one document per object, kubectl apply -f reads it as is.
    await writeFile(file, docs.map((d) => `---\n${JSON.stringify(d, null, 2)}\n`).join(''));
    files.push(file);
  }
  return { files, objects };
}
