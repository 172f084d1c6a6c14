import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  detectProject,
  renderAirlockYaml,
  type CheckErrorCode,
  type CheckReport,
  type Detection,
} from '../check/index.js';
import type { Clock } from '../core/clock.js';
import { AirlockError, errnoCode } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import { runCheck } from './check.js';
import { checkRoot, listFiles } from './check-files.js';

/** Options for `runInit`. */
export interface InitOptions {
  root?: string;
  /** Overwrite an existing airlock.yaml. */
  force?: boolean;
  /** SOURCE_DATE_EPOCH to write when the environment does not give one. */
  clock?: Clock;
  events?: EventSink;
}

/** What `init` wrote and what `check` then says. */
export interface InitResult {
  path: string;
  detection: Detection;
  text: string;
  check: CheckReport;
  next: string;
}

/**
 * Detects the project, writes a commented airlock.yaml (never overwriting one
 * unless `force`), then runs `check` so the user sees where they stand.
 */
export async function runInit(opts: InitOptions = {}): Promise<InitResult> {
  const root = await checkRoot(opts.root);
  const path = join(root, 'airlock.yaml');
  const paths = new Set(await listFiles(root));
  if (paths.has('airlock.yaml') && !opts.force) {
    throw new AirlockError<CheckErrorCode>('INIT_EXISTS', `${path} already exists`, {
      hint: 'Edit it, or pass --force to replace it.',
      details: { path },
    });
  }
  let pkg: string | undefined;
  try {
    pkg = await readFile(join(root, 'package.json'), 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const detection = detectProject(basename(root), paths, pkg);
  const envEpoch = Number(process.env.SOURCE_DATE_EPOCH);
  const epoch =
    Number.isInteger(envEpoch) && envEpoch > 0
      ? envEpoch
      : Math.floor((opts.clock?.now() ?? 0) / 1000);
  const text = renderAirlockYaml(detection, epoch);
  await writeFile(path, text, { flag: opts.force ? 'w' : 'wx' });
  (opts.events ?? noEvents)({ type: 'log', level: 'info', message: `wrote ${path}` });
  const check = await runCheck({ root, ...(opts.events ? { events: opts.events } : {}) });
  const next = check.findings.some(
    (f) => f.ruleId.startsWith('image') || f.ruleId === 'npm/version-range',
  )
    ? 'airlock pin'
    : 'airlock lock';
  return { path, detection, text, check, next };
}
