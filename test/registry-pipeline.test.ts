import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../src/core/index.js';
import { runAttachments } from '../src/pipeline/registry-attachments.js';
import { runCopy } from '../src/pipeline/registry-copy.js';
import { runLs } from '../src/pipeline/registry-ls.js';
import { runPull } from '../src/pipeline/registry-pull.js';
import { runPush } from '../src/pipeline/registry-push.js';
import { referrersTag } from '../src/oci/index.js';
import { localReferrers } from '../src/registry/index.js';
import { Store } from '../src/store/index.js';
import { storeArtifact, storeAttachment, writeOciLayout } from './helpers/registry-artifacts.js';
import {
  digestOf,
  startAuthProxy,
  startRegistry,
  tempDir,
  type TestRegistry,
} from './helpers/registry.js';

const exec = promisify(execFile);
const SBOM = 'application/vnd.cyclonedx+json';
const SIG = 'application/vnd.dev.sigstore.bundle.v0.3+json';

let reg: TestRegistry;
let work: string;
const dirs: string[] = [];
beforeAll(async () => {
  reg = await startRegistry();
  work = await tempDir('regpipe');
});
afterAll(async () => {
  await reg.stop();
  await rm(work, { recursive: true, force: true });
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const env = { HOME: '/nonexistent', AIRLOCK_INSECURE_REGISTRIES: '' };
const opts = (store: string) => ({
  store,
  insecure: [reg.host],
  env,
  retries: 1,
  sleep: async () => {},
});

async function newStore(name: string): Promise<{ root: string; store: Store }> {
  const root = join(work, name);
  return { root, store: await Store.open(root) };
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isAirlockError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('push → skopeo → pull round trip', () => {
  let subjectDigest = '';
  let sbomDigest = '';

  it('pushes an artifact with its attachments, printing the digest', async () => {
    const { root, store } = await newStore('a');
    const art = await storeArtifact(store, 'app');
    const sbom = await storeAttachment(store, art, SBOM, '{"bomFormat":"CycloneDX"}');
    const sig = await storeAttachment(store, sbom, SIG, '{"sig":1}');
    store.close();
    const report = await runPush({
      ...opts(root),
      source: 'app',
      target: `${reg.host}/team/app:1.0`,
    });
    expect(report.digest).toBe(art.digest);
    expect(report.reference).toBe(`${reg.host}/team/app@${art.digest}`);
    expect(report.attachments.map((a) => a.digest)).toEqual([sbom.digest, sig.digest]);
    expect(report.uploadedBytes).toBeGreaterThan(100_000);
    subjectDigest = art.digest;
    sbomDigest = sbom.digest;
  });

  it('uploads 0 blob bytes when the unchanged artifact is pushed again', async () => {
    const report = await runPush({
      ...opts(join(work, 'a')),
      source: 'app',
      target: `${reg.host}/team/app:1.0`,
    });
    expect(report.uploadedBytes).toBe(0);
    expect(report.blobs.transferred).toBe(0);
    expect(report.blobs.skipped).toBe(report.blobs.total);
  });

  it('is read by skopeo inspect and skopeo copy', async () => {
    const { stdout } = await exec('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg.host}/team/app:1.0`,
    ]);
    expect(digestOf(stdout)).toBe(subjectDigest);
    const out = join(work, 'skopeo-out');
    await exec('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${reg.host}/team/app:1.0`,
      `oci:${out}:x`,
    ]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests[0]!.digest).toBe(subjectDigest);
  });

  it('pulls into a fresh store, verified, with the attachments indexed locally', async () => {
    const { root, store } = await newStore('b');
    store.close();
    const report = await runPull({ ...opts(root), ref: `${reg.host}/team/app:1.0` });
    expect(report.digest).toBe(subjectDigest);
    expect(report.localTag).toBe(`${reg.host}/team/app:1.0`);
    expect(report.attachments.map((a) => a.artifactType)).toEqual([SBOM, SIG]);
    const again = await Store.open(root);
    try {
      expect((await again.resolveTag(`${reg.host}/team/app:1.0`))?.digest).toBe(subjectDigest);
      expect(
        (await localReferrers(again, subjectDigest as `sha256:${string}`)).map((d) => d.digest),
      ).toEqual([sbomDigest]);
    } finally {
      again.close();
    }
  });

  it('lists tags resolved to digests and the attachments by artifact type', async () => {
    const ls = await runLs({ ...opts(work), repository: `${reg.host}/team/app` });
    expect(ls.tags).toEqual([
      {
        tag: '1.0',
        digest: subjectDigest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
      },
    ]);
    expect(ls.hidden).toBe(2);
    const att = await runAttachments({ ...opts(work), ref: `${reg.host}/team/app:1.0` });
    expect(att.digest).toBe(subjectDigest);
    expect(att.via).toBe('tag');
    expect(att.attachments.map((a) => a.artifactType)).toEqual([SBOM]);
    const none = await runAttachments({
      ...opts(work),
      ref: `${reg.host}/team/app:1.0`,
      artifactType: SIG,
    });
    expect(none.attachments).toEqual([]);
  });
});

describe('an image pushed by skopeo', () => {
  it('is pulled by Airlock and copied back out to an OCI layout that skopeo reads', async () => {
    const layout = join(work, 'hand-layout');
    const layer = randomBytes(50_000);
    await writeOciLayout(layout, 'v1', layer);
    const dest = `docker://${reg.host}/skopeo/img:v1`;
    await exec('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, dest]);
    // skopeo compresses the layer on the way to a registry: the pushed digest is what it reports.
    const raw = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', dest]);
    const manifestDigest = digestOf(raw.stdout);
    const { root } = await newStore('c').then((s) => (s.store.close(), s));
    const pulled = await runPull({ ...opts(root), ref: `${reg.host}/skopeo/img:v1` });
    expect(pulled.digest).toBe(manifestDigest);
    const outDir = join(work, 'copied-layout');
    const copied = await runCopy({
      ...opts(root),
      from: `${reg.host}/skopeo/img@${manifestDigest}`,
      to: `oci:${outDir}:v2`,
    });
    expect(copied.digest).toBe(manifestDigest);
    const { stdout } = await exec('skopeo', ['inspect', '--raw', `oci:${outDir}:v2`]);
    expect(digestOf(stdout)).toBe(manifestDigest);
    const back = await runCopy({
      ...opts(root),
      from: `oci:${outDir}:v2`,
      to: `${reg.host}/copied/img:v1`,
    });
    expect(back.to).toBe(`${reg.host}/copied/img@${manifestDigest}`);
    const again = await exec('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg.host}/copied/img:v1`,
    ]);
    expect(digestOf(again.stdout)).toBe(manifestDigest);
  });
});

describe('a layout written by another tool', () => {
  it('is copied to a registry as is (uncompressed layer, same digest)', async () => {
    const layout = join(work, 'foreign-layout');
    const { manifestDigest } = await writeOciLayout(layout, 'v1', randomBytes(30_000));
    const r = await runCopy({
      ...opts(work),
      from: `oci:${layout}:v1`,
      to: `${reg.host}/foreign/img:v1`,
    });
    expect(r.digest).toBe(manifestDigest);
    const { stdout } = await exec('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg.host}/foreign/img:v1`,
    ]);
    expect(digestOf(stdout)).toBe(manifestDigest);
  });
});

describe('credentials', () => {
  it('come from AIRLOCK_REGISTRY_AUTH and from $DOCKER_CONFIG/config.json', async () => {
    const proxy = await startAuthProxy(reg, { mode: 'bearer', username: 'ci', password: 'tok3n' });
    try {
      const auth = Buffer.from('ci:tok3n').toString('base64');
      const base = {
        store: work,
        insecure: [proxy.host],
        retries: 0,
        repository: `${proxy.host}/team/app`,
      };
      const viaEnv = await runLs({
        ...base,
        env: {
          HOME: '/nonexistent',
          AIRLOCK_REGISTRY_AUTH: JSON.stringify({ auths: { [proxy.host]: { auth } } }),
        },
      });
      expect(viaEnv.tags.map((t) => t.tag)).toEqual(['1.0']);
      const dockerDir = join(work, 'docker-config');
      await mkdir(dockerDir, { recursive: true });
      await writeFile(
        join(dockerDir, 'config.json'),
        JSON.stringify({ auths: { [proxy.host]: { auth } } }),
      );
      const viaFile = await runLs({
        ...base,
        env: { HOME: '/nonexistent', DOCKER_CONFIG: dockerDir },
      });
      expect(viaFile.tags.map((t) => t.tag)).toEqual(['1.0']);
      const anonymous = await rejection(runLs({ ...base, env: { HOME: '/nonexistent' } }));
      expect(anonymous.code).toBe('REGISTRY_UNAUTHORIZED');
      expect(proxy.tokensIssued.every((t) => t.endsWith('repository:team/app:pull'))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });
});

describe('bad input', () => {
  it('rejects a tampered blob and commits nothing to the store', async () => {
    const { root, store } = await newStore('d');
    const layer = randomBytes(20_000);
    await storeArtifact(store, 'evil', 0, layer);
    store.close();
    await runPush({ ...opts(root), source: 'evil', target: `${reg.host}/bad/app:1` });
    // Tamper with the blob in the registry's own storage.
    const hex = digestOf(layer).slice(7);
    const data = join(
      reg.root,
      'data',
      'docker',
      'registry',
      'v2',
      'blobs',
      'sha256',
      hex.slice(0, 2),
      hex,
      'data',
    );
    const tampered = Buffer.from(layer);
    tampered[100] = tampered[100]! ^ 0xff;
    await writeFile(data, tampered);
    const fresh = join(work, 'e');
    const err = await rejection(runPull({ ...opts(fresh), ref: `${reg.host}/bad/app:1` }));
    expect(err.code).toBe('INTEGRITY_MISMATCH');
    expect(err.message).toContain(`${reg.host}/bad/app@${digestOf(layer)}`);
    const after = await Store.open(fresh);
    try {
      expect(await after.has(digestOf(layer))).toBe(false);
      expect(await after.listTags()).toEqual([]);
      expect(await readdir(join(fresh, 'tmp'))).toEqual([]);
    } finally {
      after.close();
    }
  });

  it('names a corrupt local blob BLOB_CORRUPT when pushing it, not a failed upload to retry', async () => {
    const { root, store } = await newStore('corrupt-push');
    const layer = randomBytes(30_000);
    await storeArtifact(store, 'rotten', 0, layer);
    const path = store.blobPath(digestOf(layer));
    store.close();
    await chmod(path, 0o644);
    const bytes = await readFile(path);
    bytes[10] = bytes[10]! ^ 0xff;
    await writeFile(path, bytes);
    const err = await rejection(
      runPush({ ...opts(root), source: 'rotten', target: `${reg.host}/rotten/app:1` }),
    );
    expect(err.code).toBe('BLOB_CORRUPT');
    expect(err.message).toContain(digestOf(layer));
  });

  it.each(['sha256:../x', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`])(
    'rejects the malformed digest %s before any request',
    async (d) => {
      const err = await rejection(runPull({ ...opts(join(work, 'f')), ref: `${reg.host}/x@${d}` }));
      expect(err.code).toBe('INVALID_REFERENCE');
    },
  );

  it('names the reference when the repository or tag does not exist', async () => {
    const err = await rejection(
      runPull({ ...opts(join(work, 'g')), ref: `${reg.host}/no/such:tag` }),
    );
    expect(err.code).toBe('REGISTRY_NOT_FOUND');
    expect(err.message).toContain(`${reg.host}/no/such:tag`);
  });

  it('never falls back to http for a registry not marked insecure', async () => {
    const err = await rejection(
      runLs({ store: work, env, retries: 0, repository: `${reg.host}/team/app` }),
    );
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
  });
});

describe('referrers fallback tag', () => {
  it('is the sha256-<hex> form', () => {
    expect(referrersTag(`sha256:${'a'.repeat(64)}`)).toBe(`sha256-${'a'.repeat(64)}`);
  });
});
