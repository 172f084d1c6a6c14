import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { globalOptions } from '../run.js';
import { sessionOf } from '../session.js';
import { createRenderer, renderOptions } from '../render.js';
import { renderCheckText } from './check.js';

export function register(cli: Command): void {
  cli
    .command('init')
    .description("detect the project and write a commented airlock.yaml, then show check's result")
    .argument('[path]', 'project root', '.')
    .option('--force', 'replace an existing airlock.yaml')
    .option('--build', 'run the first build right after writing airlock.yaml')
    .action(async (path: string, opts: { force?: boolean; build?: boolean }, cmd: Command) => {
      const g = globalOptions(cmd);
      const session = sessionOf(cmd);
      const out = session.io.stdout;
      const { runInit } = await import('../../pipeline/init.js');
      const r = createRenderer(renderOptions(g, session.io), session.io.stderr);
      let result;
      try {
        result = await runInit({
          root: session.path(path),
          force: opts.force === true,
          clock: systemClock,
          build: opts.build === true,
          store: g.store,
          env: session.io.env,
          events: r.sink,
        });
      } finally {
        r.done();
      }
      if (g.json) {
        out.write(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
        return;
      }
      const color =
        out.isTTY === true && g.color !== false && session.io.env['NO_COLOR'] === undefined;
      const built = result.build
        ? `\nbuilt ${result.build.targets.map((t) => `${t.name} (${t.artifact})`).join(', ')}\n`
        : '';
      out.write(
        `wrote ${result.path}\n\n${renderCheckText(result.check, color)}${built}\nnext: ${result.next}\n`,
      );
    });
}
