import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { Store } from '../src/store/index.js';
import { storeArtifact } from './helpers/registry-artifacts.js';
import { startRegistry, tempDir, type TestRegistry } from './helpers/registry.js';

let reg: TestRegistry;
let work: string;
beforeAll(async () => {
  reg = await startRegistry();
  work = await tempDir('regcli');
});
afterAll(async () => {
  await reg.stop();
  await rm(work, { recursive: true, force: true });
});

/** Runs the CLI in-process and captures stdout. */
async function airlock(...args: string[]): Promise<{ status: number; out: string }> {
  let out = '';
  const spyOut = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => {
      out += chunk.toString();
      return true;
    });
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    process.exitCode = undefined;
    const status = await main(['node', 'airlock', ...args]);
    return { status, out };
  } finally {
    spyOut.mockRestore();
    spyErr.mockRestore();
    process.exitCode = undefined;
  }
}

describe('airlock push / ls / attachments / pull', () => {
  it('pushes by tag and prints the digest reference, then lists and pulls it', async () => {
    const root = join(work, 'store');
    const store = await Store.open(root);
    const art = await storeArtifact(store, 'app', 10_000);
    store.close();
    const push = await airlock(
      '--store',
      root,
      'push',
      '--insecure-registry',
      reg.host,
      'app',
      `${reg.host}/cli/app:v1`,
    );
    expect(push.status).toBe(0);
    expect(push.out.trim()).toBe(`${reg.host}/cli/app@${art.digest}`);
    const ls = await airlock(
      '--json',
      'ls',
      '--insecure-registry',
      reg.host,
      `${reg.host}/cli/app`,
    );
    expect(ls.status).toBe(0);
    expect(JSON.parse(ls.out).tags).toEqual([
      { tag: 'v1', digest: art.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    ]);
    const att = await airlock(
      '--json',
      'attachments',
      '--insecure-registry',
      reg.host,
      `${reg.host}/cli/app:v1`,
    );
    expect(JSON.parse(att.out)).toMatchObject({ ok: true, digest: art.digest, attachments: [] });
    const pull = await airlock(
      '--json',
      '--store',
      join(work, 'other'),
      'pull',
      '--insecure-registry',
      reg.host,
      `${reg.host}/cli/app:v1`,
    );
    expect(JSON.parse(pull.out)).toMatchObject({ ok: true, digest: art.digest });
  });

  it('exits 1 with a typed JSON error when the tag does not exist', async () => {
    const r = await airlock(
      '--json',
      '--store',
      join(work, 'x'),
      'pull',
      '--insecure-registry',
      reg.host,
      `${reg.host}/cli/app:nope`,
    );
    expect(r.status).toBe(1);
    expect(JSON.parse(r.out).error.code).toBe('REGISTRY_NOT_FOUND');
  });
});
