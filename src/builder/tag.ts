import type { TargetConfig } from '../config/index.js';
import { MEDIA, ociArch, type Descriptor } from '../oci/index.js';
import { sha256 } from '../core/digest.js';
import type { ActionResult } from './action.js';
import { AirlockError } from '../core/errors.js';
import type { BuildErrorCode } from './errors.js';
import { imageDocuments, type BaseImage } from './artifact.js';
import { tagFor, type BuildContext } from './context.js';

/** Stores the image config and manifest of the result's layer and tags it `<project>/<target>`. */
export async function tagArtifact(
  ctx: BuildContext,
  target: TargetConfig,
  result: ActionResult,
  sourceDateEpoch: number,
): Promise<{ manifest: Descriptor; tag: string }> {
  const base = await baseImage(ctx, target);
  const docs = imageDocuments({
    layer: result.outputs.layer,
    base,
    sourceDateEpoch,
    settings: target.image,
    platform: { os: process.platform, architecture: ociArch(process.arch) },
  });
  const manifest: Descriptor = {
    mediaType: MEDIA.ociManifest,
    digest: sha256(docs.manifest),
    size: docs.manifest.byteLength,
  };
  const tag = tagFor(ctx.project.name, target.name);
  if (ctx.record === false) return { manifest, tag };
  // The config and manifest are re-created (or found byte-for-byte intact) on
  // every build, so a damaged copy never outlives the next build.
  await ctx.store.putBytes(docs.config);
  await ctx.store.putBytes(docs.manifest, { digest: manifest.digest, size: manifest.size });
  const current = await ctx.store.resolveTag(tag);
  if (current?.digest === manifest.digest) return { manifest, tag };
  await ctx.store.verifiedPath(result.outputs.layer.digest);
  await ctx.store.setTag(tag, manifest);
  return { manifest, tag };
}

/** The target's `image.base`, pulled and verified into the store, or undefined without one. */
async function baseImage(ctx: BuildContext, target: TargetConfig): Promise<BaseImage | undefined> {
  const ref = target.image?.base;
  if (ref === undefined) return undefined;
  if (!ctx.imageBases) {
    throw new AirlockError<BuildErrorCode>(
      'IMAGE_BASE_UNAVAILABLE',
      `target ${target.name}: its base image ${ref} cannot be reached from this command`,
      { hint: 'Build it with `airlock build`, which pulls base images from their registry.' },
    );
  }
  const got = await ctx.imageBases.resolve(ref);
  const config = JSON.parse(got.config.toString('utf8')) as unknown;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new AirlockError<BuildErrorCode>(
      'IMAGE_BASE_UNAVAILABLE',
      `target ${target.name}: the config of base image ${ref} is not a JSON object`,
      { hint: 'Pin an OCI or Docker image (not an artifact) as image.base.' },
    );
  }
  return { config: config as Record<string, unknown>, layers: got.layers };
}
