import { analyze, type CheckReport } from '../check/index.js';
import { noEvents, type EventSink } from '../core/events.js';
import { checkRoot, readRepository } from './check-files.js';

/** Options for `runCheck`. */
export interface CheckOptions {
  /** Repository root; defaults to the current directory. */
  root?: string;
  events?: EventSink;
  /** The store whose evidence (repro, signature, SBOM, provenance) can award level 5. */
  store?: string | undefined;
}

/**
 * Reads a repository and scores its hermeticity from its files (at most 4);
 * level 5 is awarded from the evidence in the store.
 */
export async function runCheck(opts: CheckOptions = {}): Promise<CheckReport & { root: string }> {
  const events = opts.events ?? noEvents;
  const root = await checkRoot(opts.root);
  const { paths, files } = await readRepository(root);
  events({ type: 'progress', phase: 'check', done: 0, total: files.length });
  const report = analyze({ paths, files, hostNodeVersion: process.version });
  events({ type: 'progress', phase: 'check', done: report.filesScanned, total: files.length });
  if (report.level === 4) {
    // Files allow level 4; the store's evidence decides level 5, and the hint names what is missing.
    const { levelFiveEvidence } = await import('./check-evidence.js');
    const evidence = await levelFiveEvidence(root, opts.store);
    if (evidence.complete) return { ...report, level: 5, gaps: [], root };
    return {
      ...report,
      gaps: report.gaps.map((g) => (g.level === 5 ? { level: 5, blockers: evidence.missing } : g)),
      root,
    };
  }
  return { ...report, root };
}
