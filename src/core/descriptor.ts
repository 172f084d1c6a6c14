import type { Digest } from './digest.js';

/** An OCI content descriptor: what the store, the registry client and manifests share. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}
