/** Media types Airlock reads and writes (OCI image spec 1.1 and Docker schema 2). */
export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** Every manifest media type Airlock accepts, in Accept-header order. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA.ociManifest,
  MEDIA.ociIndex,
  MEDIA.dockerManifest,
  MEDIA.dockerList,
];

/** Layer media types whose content is a (possibly gzipped) tar that can be unpacked. */
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MEDIA.ociLayerTar,
  MEDIA.ociLayer,
  MEDIA.dockerLayer,
  MEDIA.dockerLayerTar,
];

/** The `imageLayoutVersion` of the `oci-layout` file of an OCI image layout. */
export const OCI_LAYOUT_VERSION = '1.0.0';

/** The annotation that names a tag in an image layout's `index.json`. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The annotation that records when an image was created (RFC 3339). */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
