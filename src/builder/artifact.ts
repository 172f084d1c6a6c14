import { canonicalJson } from '../core/canonical.js';
import { sha256, type Digest } from '../core/digest.js';
import { CREATED_ANNOTATION, MEDIA } from '../oci/index.js';

/** Runtime settings carried in the image config (from the target's `image:`). */
export interface ImageSettings {
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  exposedPorts?: string[];
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
}): ImageDocuments {
  const s = opts.settings ?? {};
  const runtime: Record<string, unknown> = {};
  if (s.entrypoint) runtime.Entrypoint = s.entrypoint;
  if (s.cmd) runtime.Cmd = s.cmd;
  if (s.env) runtime.Env = Object.entries(s.env).map(([k, v]) => `${k}=${v}`);
  if (s.workingDir) runtime.WorkingDir = s.workingDir;
  if (s.exposedPorts) runtime.ExposedPorts = Object.fromEntries(s.exposedPorts.map((p) => [p, {}]));
  if (opts.labels && Object.keys(opts.labels).length > 0) runtime.Labels = opts.labels;
  const created = new Date(opts.sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z');
  const config = Buffer.from(
    canonicalJson({
      created,
      architecture: opts.platform.architecture,
      os: opts.platform.os,
      config: runtime,
      rootfs: { type: 'layers', diff_ids: [opts.layer.diffId] },
      history: [{ created, created_by: 'airlock build' }],
    }),
  );
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: sha256(config), size: config.byteLength },
      layers: [{ mediaType: MEDIA.ociLayer, digest: opts.layer.digest, size: opts.layer.size }],
      annotations: { [CREATED_ANNOTATION]: created },
    }),
  );
  return { config, manifest };
}
