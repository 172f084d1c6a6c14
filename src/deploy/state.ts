import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import type { DeployErrorCode } from './errors.js';
import type { RolloutRecord } from './rollout.js';

/*
 * Deploy state, format airlock.deploy-state/v1, one file per environment in
 * the store's deploy directory, written atomically (temp file, fsync,
 * rename) before and after every action, so a deploy killed at any moment
 * leaves a file that says what it was doing:
 *
 *   <store>/airlock/v1/deploy/prod.json
 *     {"format":"airlock.deploy-state/v1","environment":"prod",
 *      "regions":{"eu":{"stable":"a","slots":{"a":{"digest":"sha256:…",
 *        "container":"airlock-prod-eu-a-3f1c…","port":40123},"b":null}}},
 *      "rollout":{…the current or last RolloutRecord…}}
 *   <store>/airlock/v1/deploy/rollouts/<id>.json   every rollout, kept
 *   <store>/airlock/v1/deploy/prod.lock            pid of the deploy running now
 */

export const STATE_FORMAT = 'airlock.deploy-state/v1';

/** A version running in one of a region's two router slots. */
export interface SlotState {
  digest: Digest;
  container: string;
  port: number;
}

/** A region: which slot is stable, and what each slot runs. */
export interface RegionState {
  /** The slot serving production traffic (null: nothing deployed yet). */
  stable: string | null;
  slots: Record<string, SlotState | null>;
  /** The digest last promoted here: what `status` expects the region to run. */
  verified: Digest | null;
}

export interface EnvironmentState {
  format: typeof STATE_FORMAT;
  environment: string;
  regions: Record<string, RegionState>;
  rollout: RolloutRecord | null;
}

/** The state of `environment`, or an empty one. */
export async function readState(dir: string, environment: string): Promise<EnvironmentState> {
  try {
    const parsed = JSON.parse(
      await readFile(join(dir, `${environment}.json`), 'utf8'),
    ) as EnvironmentState;
    if (parsed.format === STATE_FORMAT) return parsed;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  return { format: STATE_FORMAT, environment, regions: {}, rollout: null };
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  await rename(tmp, file);
}

/** Writes the state, and the current rollout's own record, atomically. */
export async function writeState(dir: string, state: EnvironmentState): Promise<void> {
  await mkdir(join(dir, 'rollouts'), { recursive: true });
  if (state.rollout)
    await atomicWrite(
      join(dir, 'rollouts', `${state.rollout.id}.json`),
      `${JSON.stringify(state.rollout, null, 1)}\n`,
    );
  await atomicWrite(join(dir, `${state.environment}.json`), `${JSON.stringify(state, null, 1)}\n`);
}

/** One rollout's record by id. */
export async function readRollout(dir: string, id: string): Promise<RolloutRecord | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(id)) return undefined;
  try {
    return JSON.parse(await readFile(join(dir, 'rollouts', `${id}.json`), 'utf8')) as RolloutRecord;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * Takes the environment's lock (one deploy, rollback or resume at a time);
 * a lock left by a dead process (kill -9) is taken over. Returns the release.
 */
export async function lockEnvironment(
  dir: string,
  environment: string,
): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${environment}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rm(file, { force: true });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid) && pid !== process.pid)
        throw new AirlockError<DeployErrorCode>(
          'DEPLOY_BUSY',
          `another airlock (pid ${pid}) is deploying ${environment}`,
          {
            hint: `Wait for it to finish, or stop it; a killed deploy's lock (${file}) is taken over automatically.`,
          },
        );
      await rm(file, { force: true });
    }
  }
  throw new AirlockError<DeployErrorCode>('DEPLOY_BUSY', `cannot take the lock ${file}`, {
    hint: 'Another deploy raced for it: try again.',
  });
}
