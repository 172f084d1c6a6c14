import type { Command } from 'commander';
import type { CheckReport, Finding } from '../../check/index.js';
import { AirlockError } from '../../core/errors.js';
import { globalOptions } from '../run.js';
import { sessionOf } from '../session.js';

const paint = (on: boolean, code: number, text: string): string =>
  on ? `\x1b[${code}m${text}\x1b[0m` : text;

/** Grouped human text for a check report: findings by file, then the level and how to climb. */
export function renderCheckText(report: CheckReport, color: boolean): string {
  const out: string[] = [];
  const byFile = new Map<string, Finding[]>();
  // Project-wide findings (file '') come first, under "(repository)".
  for (const f of report.findings) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);
  const sev = { error: 31, warning: 33, note: 36 } as const;
  for (const [file, list] of byFile) {
    out.push(paint(color, 1, file === '' ? '(repository)' : file));
    for (const f of list) {
      out.push(
        `  ${file === '' ? '' : `${f.line}:${f.column}  `}${paint(color, sev[f.severity], f.severity.padEnd(7))} ${f.message}  ${paint(color, 2, `[${f.ruleId}, caps level ${f.caps}]`)}`,
      );
      out.push(`      why: ${f.why}`);
      out.push(`      fix: ${f.fix}`);
      if (f.replacement) out.push(`      replace with: ${JSON.stringify(f.replacement.text)}`);
    }
    out.push('');
  }
  if (report.suppressed.length > 0) {
    out.push(paint(color, 2, `${report.suppressed.length} suppressed:`));
    for (const f of report.suppressed)
      out.push(
        paint(
          color,
          2,
          `  ${f.file}:${f.line}:${f.column} ${f.ruleId} — ${f.suppressed?.reason ?? ''}`,
        ),
      );
    out.push('');
  }
  const s = report.summary;
  out.push(
    `${paint(color, 1, `Hermeticity level ${report.level}`)} of 5 (from files alone at most ${report.maxLevelFromFiles}); ${s.error} error(s), ${s.warning} warning(s), ${s.note} note(s), ${s.suppressed} suppressed, ${report.filesScanned} file(s) scanned.`,
  );
  for (const gap of report.gaps)
    out.push(`  to reach level ${gap.level}: ${gap.blockers.join('; ')}`);
  return `${out.join('\n')}\n`;
}

export function register(cli: Command): void {
  cli
    .command('check')
    .description(
      "score the repository's hermeticity level (1–5) and list every finding with its fix",
    )
    .argument('[path]', 'repository root', '.')
    .option('--sarif', 'print SARIF 2.1.0 (for GitHub code scanning) instead of text')
    .option('--fail-under <level>', 'exit 1 when the level is below this (1–5)')
    .addHelpText(
      'after',
      '\nExamples:\n  airlock check\n  airlock check --sarif > airlock.sarif\n  airlock check --fail-under 3\n\nSilence one finding with a comment on its line or the line above:\n  # airlock: ignore dockerfile/run-network -- fetch stage is verified by hash\n',
    )
    .action(async (path: string, opts: { sarif?: boolean; failUnder?: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      const session = sessionOf(cmd);
      const out = session.io.stdout;
      let failUnder: number | undefined;
      if (opts.failUnder !== undefined) {
        failUnder = Number(opts.failUnder);
        if (!Number.isInteger(failUnder) || failUnder < 1 || failUnder > 5) {
          throw new AirlockError('USAGE', `--fail-under must be 1–5, not ${opts.failUnder}`, {
            hint: 'Pass a level, e.g. --fail-under 3.',
          });
        }
      }
      const { runCheck } = await import('../../pipeline/check.js');
      const report = await runCheck({ root: session.path(path), store: g.store });
      if (opts.sarif) {
        const { toSarif } = await import('../../check/index.js');
        out.write(`${JSON.stringify(toSarif(report), null, 2)}\n`);
      } else if (g.json) {
        out.write(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
      } else {
        const color =
          out.isTTY === true && g.color !== false && session.io.env['NO_COLOR'] === undefined;
        out.write(renderCheckText(report, color));
      }
      session.exitCode = failUnder !== undefined && report.level < failUnder ? 1 : 0;
    });
}
