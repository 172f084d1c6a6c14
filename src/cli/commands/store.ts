import { InvalidArgumentError, type Command } from 'commander';
import { globalOptions } from '../run.js';
import { sessionOf } from '../session.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export function register(cli: Command): void {
  const store = cli
    .command('store')
    .description('inspect and maintain the content-addressable store');
  store
    .command('fsck')
    .description(
      're-hash every blob, quarantine corrupt ones, report dangling references and leftovers',
    )
    .option('--no-repair', 'only report: do not quarantine, remove or regenerate anything')
    .option(
      '--trust-of <project>',
      "re-check action-cache entries restored from a remote cache against this project's cache.remote.trust; drop those that fail",
    )
    .action(async (opts: { repair?: boolean; trustOf?: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      const session = sessionOf(cmd);
      const out = session.io.stdout;
      const { runFsck } = await import('../../pipeline/store.js');
      const report = await runFsck({
        store: g.store,
        repair: opts.repair !== false,
        trustOf: session.optionalPath(opts.trustOf),
      });
      session.exitCode = report.ok ? 0 : 1;
      if (g.json) {
        out.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      for (const p of report.problems) {
        out.write(
          `${p.severity === 'error' ? 'ERROR' : 'note '} ${p.kind}: ${p.message}${p.repaired ? ' (repaired)' : ''}\n`,
        );
      }
      if (report.trust) {
        for (const f of report.trust.failed) {
          out.write(
            `ERROR untrusted-action: action ${f.key} was restored from ${f.repository} (signer ${f.signer}) and no longer passes ${report.trust.config}: ${f.reason}${f.dropped ? ' (dropped)' : ''}\n`,
          );
        }
        out.write(
          `${report.trust.checked} remote-origin action(s) re-checked against ${report.trust.config}: ${report.trust.failed.length} failed\n`,
        );
      }
      out.write(
        `${report.blobsChecked} blobs (${report.bytesChecked} bytes) checked: ${report.corrupt} corrupt, ${report.dangling} dangling, ${report.leftoverTmp} leftover temp files — ${report.ok ? 'store is consistent' : 'store has errors'}\n`,
      );
    });
  store
    .command('gc')
    .description(
      'delete blobs not reachable from tags or from action-cache entries younger than the retention',
    )
    .option(
      '--retention-days <n>',
      'keep action-cache entries younger than this many days',
      retentionDays,
      14,
    )
    .option('-n, --dry-run', 'report what would be deleted, delete nothing')
    .action(async (opts: { retentionDays: number; dryRun?: boolean }, cmd: Command) => {
      const g = globalOptions(cmd);
      const session = sessionOf(cmd);
      const out = session.io.stdout;
      const { runGc } = await import('../../pipeline/store.js');
      const report = await runGc({
        store: g.store,
        retentionMs: opts.retentionDays * DAY_MS,
        dryRun: opts.dryRun === true,
      });
      if (g.json) out.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
      else {
        out.write(
          `${report.dryRun ? 'would free' : 'freed'} ${report.blobsFreed} blobs (${report.bytesFreed} bytes); ${report.reachable} reachable from ${report.roots} roots; ${report.actionsExpired} action entries expired; ${report.referrersDropped} attachment lists of deleted artifacts dropped; ${report.treesRemoved} extracted trees, ${report.rootsRemoved} toolchain roots, ${report.npmTreesRemoved} npm installs and ${report.filesRemoved} placed files ${report.dryRun ? 'would be ' : ''}removed; ${report.statEntriesPruned} stat-cache entries of deleted files pruned\n`,
        );
      }
    });
}

/** A non-negative number of days: `-1` would expire every entry and `abc` every blob. */
function retentionDays(value: string): number {
  const days = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(days) || days < 0) {
    throw new InvalidArgumentError(
      `"${value}" is not a number of days; give a non-negative number such as 14 or 0.5.`,
    );
  }
  return days;
}
