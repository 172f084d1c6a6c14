import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/store/index.js';
import { runCli } from './helpers/cli.js';
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

/** Runs the CLI in-process and returns its exit status and stdout. */
async function airlock(...args: string[]): Promise<{ status: number; out: string }> {
  const r = await runCli(args);
  return { status: r.status, out: r.stdout };
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

describe('airlock copy with an OCI layout directory', () => {
  it("takes a relative oci:<dir> from the run's working directory, to and from the layout", async () => {
    const root = join(work, 'copy-store');
    const store = await Store.open(root);
    const art = await storeArtifact(store, 'copied', 5_000);
    store.close();
    expect(
      (
        await airlock(
          '--store',
          root,
          'push',
          '--insecure-registry',
          reg.host,
          'copied',
          `${reg.host}/cli/copied:v1`,
        )
      ).status,
    ).toBe(0);
    const cwd = join(work, 'copy-cwd');
    await mkdir(cwd);
    const out = await runCli(
      [
        '--store',
        root,
        'copy',
        '--insecure-registry',
        reg.host,
        `${reg.host}/cli/copied:v1`,
        'oci:layout:v1',
      ],
      { cwd },
    );
    expect(out.status, out.stderr).toBe(0);
    expect(existsSync(join(cwd, 'layout', 'index.json'))).toBe(true);
    expect(existsSync(join(process.cwd(), 'layout'))).toBe(false);
    const back = await runCli(
      [
        '--store',
        root,
        'copy',
        '--insecure-registry',
        reg.host,
        'oci:./layout:v1',
        `${reg.host}/cli/back:v1`,
      ],
      { cwd },
    );
    expect(back.status, back.stderr).toBe(0);
    expect(back.stdout).toContain(`${reg.host}/cli/back@${art.digest}`);
  });
});
