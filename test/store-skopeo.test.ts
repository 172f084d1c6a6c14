import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/store/index.js';
import { makeTempDir, putTinyImage, removeDir, type TinyImage } from './helpers/store.js';

const run = promisify(execFile);

describe('the local store as an OCI image layout read by other tools', () => {
  let dir: string;
  let store: Store;
  let image: TinyImage;

  beforeAll(async () => {
    dir = await makeTempDir('airlock-store-oci-');
    store = await Store.open(join(dir, 'store'));
    image = await putTinyImage(store, 'skopeo');
    await store.setTag('demo', image.manifest);
    await store.setTag('other', (await putTinyImage(store, 'second')).manifest);
  });

  afterAll(async () => {
    store.close();
    await removeDir(dir);
  });

  it('skopeo inspect reads a tagged image', async () => {
    const { stdout } = await run('skopeo', ['inspect', `oci:${store.root}:demo`]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Os: string };
    expect(info.Digest).toBe(image.manifest.digest);
    expect(info.Layers).toEqual([image.layer.digest]);
    expect(info.Os).toBe('linux');
  });

  it('skopeo copies the image out of the store byte for byte', async () => {
    const out = join(dir, 'copy');
    await run('skopeo', [
      '--insecure-policy',
      'copy',
      '--preserve-digests',
      `oci:${store.root}:demo`,
      `oci:${out}:x`,
    ]);
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${out}:x`]);
    expect(stdout).toBe((await store.getBytes(image.manifest.digest)).toString('utf8'));
  });

  it('umoci lists the tags of the layout', async () => {
    const { stdout } = await run('umoci', ['ls', '--layout', store.root]);
    expect(stdout.split('\n').filter(Boolean)).toEqual(['demo', 'other']);
  });
});
