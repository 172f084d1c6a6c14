// A vitest global set-up: one verdaccio for the whole run, handed to the test
// files as its URL (`inject('verdaccio')`, through `sharedVerdaccio()` of
// ./verdaccio.ts). Started without waiting: the files that use it wait for it
// to answer, and a run with no npm test only pays for its start.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from './registry.js';

const BIN = resolve(
  import.meta.dirname,
  '..',
  '..',
  'node_modules',
  'verdaccio',
  'bin',
  'verdaccio',
);

/** A verdaccio process that is starting: its URL, and its exit when it fails. */
export interface SpawnedVerdaccio {
  url: string;
  root: string;
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Spawns verdaccio on a free port with no uplinks (nothing leaves the machine); does not wait for it. */
export async function spawnVerdaccio(): Promise<SpawnedVerdaccio> {
  const root = await mkdtemp(join(tmpdir(), 'airlock-verdaccio-'));
  const port = await freePort();
  const config = [
    `storage: ${join(root, 'storage')}`,
    'auth:',
    '  htpasswd:',
    `    file: ${join(root, 'htpasswd')}`,
    '    max_users: 100',
    'uplinks: {}',
    'packages:',
    "  '**':",
    '    access: $all',
    '    publish: $authenticated',
    '    unpublish: $authenticated',
    `listen: 127.0.0.1:${port}`,
    'log: { type: stdout, format: json, level: error }',
    '',
  ].join('\n');
  await writeFile(join(root, 'config.yaml'), config);
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, '--config', join(root, 'config.yaml')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'production' },
    },
  );
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return {
    url: `http://127.0.0.1:${port}/`,
    root,
    child,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const v = await spawnVerdaccio();
  project.provide('verdaccio', v.url);
  return () => v.stop();
}
