import { canonicalJson } from '../core/canonical.js';
import { sha256, type Digest } from '../core/digest.js';
import { CREATED_ANNOTATION, MEDIA, type Descriptor } from '../oci/index.js';

/** Runtime settings carried in the image config (from the target's `image:`). */
export interface ImageSettings {
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  exposedPorts?: string[];
}

/** A base image the target's layer goes on top of: its parsed config and its layers. */
export interface BaseImage {
  /** The base image's config document (JSON-parsed, as stored). */
  config: Record<string, unknown>;
  /** The base manifest's layer descriptors, in order. */
  layers: Descriptor[];
}

/** Canonical bytes of an OCI image config and manifest around one layer. */
export interface ImageDocuments {
  config: Buffer;
  manifest: Buffer;
}

/**
 * The OCI image config and manifest for a target's output layer. `created`
 * is SOURCE_DATE_EPOCH, the JSON is canonical: the same layer and settings
 * give the same manifest digest on any machine.
 */
export function imageDocuments(opts: {
  layer: { digest: Digest; size: number; diffId: Digest };
  sourceDateEpoch: number;
  settings?: ImageSettings | undefined;
  platform: { os: string; architecture: string };
  labels?: Record<string, string>;
  /** Layers first, config merged under the target's settings (image.base). */
  base?: BaseImage | undefined;
}): ImageDocuments {
  const s = opts.settings ?? {};
  const base = opts.base;
  const baseRuntime = record(base?.config['config']);
  const runtime: Record<string, unknown> = { ...baseRuntime };
  if (s.entrypoint) {
    runtime.Entrypoint = s.entrypoint;
    // As in a Dockerfile: a new entrypoint drops the base's arguments unless cmd is given too.
    if (!s.cmd) delete runtime.Cmd;
  }
  if (s.cmd) runtime.Cmd = s.cmd;
  const env = mergeEnv(baseRuntime['Env'], s.env ?? {});
  if (env.length > 0) runtime.Env = env;
  if (s.workingDir) runtime.WorkingDir = s.workingDir;
  const ports = [...Object.keys(record(baseRuntime['ExposedPorts'])), ...(s.exposedPorts ?? [])];
  if (ports.length > 0 || s.exposedPorts)
    runtime.ExposedPorts = Object.fromEntries(ports.map((p) => [p, {}]));
  const labels = { ...stringRecord(baseRuntime['Labels']), ...opts.labels };
  if (Object.keys(labels).length > 0) runtime.Labels = labels;
  else delete runtime.Labels;
  const created = new Date(opts.sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z');
  const baseRootfs = record(base?.config['rootfs']);
  const baseDiffIds: unknown[] = Array.isArray(baseRootfs['diff_ids'])
    ? baseRootfs['diff_ids']
    : [];
  const baseHistory: unknown[] = Array.isArray(base?.config['history'])
    ? base.config['history']
    : [];
  const platform: Record<string, unknown> = base
    ? {
        architecture: base.config['architecture'],
        os: base.config['os'],
        ...(typeof base.config['variant'] === 'string' ? { variant: base.config['variant'] } : {}),
      }
    : { architecture: opts.platform.architecture, os: opts.platform.os };
  const config = Buffer.from(
    canonicalJson({
      created,
      ...platform,
      config: runtime,
      rootfs: { type: 'layers', diff_ids: [...baseDiffIds, opts.layer.diffId] },
      history: [...baseHistory, { created, created_by: 'airlock build' }],
    }),
  );
  const baseLayers = (base?.layers ?? []).map((l) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
  }));
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: sha256(config), size: config.byteLength },
      layers: [
        ...baseLayers,
        { mediaType: MEDIA.ociLayer, digest: opts.layer.digest, size: opts.layer.size },
      ],
      annotations: { [CREATED_ANNOTATION]: created },
    }),
  );
  return { config, manifest };
}

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : {};
}

function stringRecord(v: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record(v)).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

/** The base's `NAME=value` list with the target's values replacing or following it (new names in the file's order). */
function mergeEnv(baseEnv: unknown, env: Record<string, string>): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  for (const line of Array.isArray(baseEnv) ? baseEnv : []) {
    if (typeof line !== 'string') continue;
    const name = line.includes('=') ? line.slice(0, line.indexOf('=')) : line;
    const mine = env[name];
    out.push(mine === undefined ? line : `${name}=${mine}`);
    done.add(name);
  }
  for (const name of Object.keys(env)) if (!done.has(name)) out.push(`${name}=${env[name]!}`);
  return out;
}
