import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BuildReport } from './build.js';
import {
  INIT_READS,
  detectProject,
  npmLockfileOf,
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
import { runFetch } from './fetch.js';
import { runLock } from './lock.js';

/** Options for `runInit`. */
export interface InitOptions {
  root?: string;
  /** Overwrite an existing airlock.yaml. */
  force?: boolean;
  /** SOURCE_DATE_EPOCH to write when the environment does not give one. */
  clock?: Clock;
  events?: EventSink;
  /** Run the first build right after writing the config. */
  build?: boolean;
  /** The store the build uses (default $AIRLOCK_HOME or ~/.cache/airlock). */
  store?: string | undefined;
  signal?: AbortSignal;
  /**
   * The environment the use-case reads (SOURCE_DATE_EPOCH; the build's PATH
   * and registry settings); default: the process's.
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

/** What `init` wrote and what `check` then says. */
export interface InitResult {
  path: string;
  detection: Detection;
  text: string;
  check: CheckReport;
  /** The command to run next. */
  next: string;
  /** The first build, with `build`. */
  build?: BuildReport;
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
  const texts = new Map<string, string>();
  for (const name of INIT_READS) {
    if (!paths.has(name)) continue;
    try {
      texts.set(name, await readFile(join(root, name), 'utf8'));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  const files = { paths, text: (p: string) => texts.get(p) };
  const detection = detectProject(basename(root), files);
  const env = opts.env ?? process.env;
  const envEpoch = Number(env['SOURCE_DATE_EPOCH']);
  const epoch =
    Number.isInteger(envEpoch) && envEpoch > 0
      ? envEpoch
      : Math.floor((opts.clock?.now() ?? 0) / 1000);
  const text = renderAirlockYaml(detection, epoch, files);
  await writeFile(path, text, { flag: opts.force ? 'w' : 'wx' });
  (opts.events ?? noEvents)({ type: 'log', level: 'info', message: `wrote ${path}` });
  const check = await runCheck({ root, ...(opts.events ? { events: opts.events } : {}) });
  const locked = npmLockfileOf(detection.node) !== undefined;
  const next = opts.build
    ? `airlock check ${root}`
    : check.findings.some((f) => f.ruleId.startsWith('image') || f.ruleId === 'npm/version-range')
      ? `airlock pin ${root}`
      : locked
        ? `airlock lock -C ${root} && airlock fetch -C ${root} && airlock build -C ${root}`
        : `airlock build -C ${root}`;
  if (!opts.build) return { path, detection, text, check, next };
  if (locked) {
    // The packages the build installs offline: recorded in airlock.lock, then fetched into the store.
    const events = opts.events ?? noEvents;
    const { loadConfig } = await import('../config/index.js');
    const project = await loadConfig(root);
    await runLock({ project, events });
    await runFetch({
      project,
      events,
      registry: { env },
      ...(opts.store ? { store: opts.store } : {}),
    });
  }
  const { runBuild } = await import('./build.js');
  const build = await runBuild({
    project: root,
    targets: [],
    store: opts.store,
    env,
    events: opts.events ?? noEvents,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { path, detection, text, check, next, build };
}
