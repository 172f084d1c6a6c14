import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import type { GlobalOptions } from '../main.js';
import { renderCheckText } from './check.js';

export function register(cli: Command): void {
  cli
    .command('init')
    .description("detect the project and write a commented airlock.yaml, then show check's result")
    .argument('[path]', 'project root', '.')
    .option('--force', 'replace an existing airlock.yaml')
    .action(async (path: string, opts: { force?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { runInit } = await import('../../pipeline/init.js');
      const result = await runInit({ root: path, force: opts.force === true, clock: systemClock });
      if (g.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
        return;
      }
      const color = process.stdout.isTTY && g.color !== false && process.env.NO_COLOR === undefined;
      process.stdout.write(
        `wrote ${result.path}\n\n${renderCheckText(result.check, color)}\nnext: ${result.next}\n`,
      );
    });
}
