import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, type ProjectConfig } from '../config/index.js';
import { diffLocks, emptyLock, serializeLock } from '../lock/index.js';
import { runLock, wantedLock } from './lock.js';

const TOOL = `reg.example.com/tools/node@sha256:${'1'.repeat(64)}`;
const BASE = `reg.example.com/base/node@sha256:${'2'.repeat(64)}`;

function project(root: string, base: string | undefined): ProjectConfig {
  const text = [
    'version: 1',
    'name: shop',
    'targets:',
    '  web:',
    '    sources: ["src/**"]',
    `    toolchain: { image: "${TOOL}" }`,
    '    steps: ["node build.js"]',
    '    outputs: ["out/**"]',
    ...(base ? [`    image: { base: "${base}" }`] : []),
  ].join('\n');
  const { config, problems } = parseConfig(text, join(root, 'airlock.yaml'));
  expect(problems).toEqual([]);
  return config!;
}

describe('base images in airlock.lock', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'airlock-lock-images-'));
    dirs.push(d);
    return d;
  };

  it('records an artifact base image beside the toolchain image, by its pinned digest, offline', async () => {
    const p = project(tmp(), BASE);
    const wanted = await wantedLock(p, emptyLock(), undefined);
    expect(wanted.images).toEqual([
      { ref: BASE, digest: `sha256:${'2'.repeat(64)}` },
      { ref: TOOL, digest: `sha256:${'1'.repeat(64)}` },
    ]);
  });

  it('lock --check lists a base image airlock.lock lacks, and passes once it is recorded', async () => {
    const root = tmp();
    const withoutBase = await wantedLock(project(root, undefined), emptyLock(), undefined);
    writeFileSync(join(root, 'airlock.lock'), serializeLock(withoutBase));
    const p = project(root, BASE);
    const wanted = await wantedLock(p, withoutBase, undefined);
    expect(diffLocks(withoutBase, wanted)).toEqual([
      expect.objectContaining({ kind: 'image', name: BASE, change: 'missing' }),
    ]);
    await expect(runLock({ project: p, check: true })).rejects.toMatchObject({
      code: 'LOCK_STALE',
      message: expect.stringContaining(BASE) as unknown,
    });
    await runLock({ project: p });
    await expect(runLock({ project: p, check: true })).resolves.toMatchObject({
      differences: [],
      written: false,
    });
  });
});
