import { analyze, type CheckReport } from '../check/index.js';
import { noEvents, type EventSink } from '../core/events.js';
import { checkRoot, readRepository } from './check-files.js';

/** Options for `runCheck`. */
export interface CheckOptions {
  /** Repository root; defaults to the current directory. */
  root?: string;
  events?: EventSink;
}

/** Reads a repository and scores its hermeticity from its files alone (never above level 4). */
export async function runCheck(opts: CheckOptions = {}): Promise<CheckReport & { root: string }> {
  const events = opts.events ?? noEvents;
  const root = await checkRoot(opts.root);
  const { paths, files } = await readRepository(root);
  events({ type: 'progress', phase: 'check', done: 0, total: files.length });
  const report = analyze({ paths, files, hostNodeVersion: process.version });
  events({ type: 'progress', phase: 'check', done: report.filesScanned, total: files.length });
  return { ...report, root };
}
