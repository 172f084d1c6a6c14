import type { Command } from 'commander';
import type { EventSink } from '../core/events.js';
import type { GlobalOptions } from './main.js';
import { createRenderer, renderOptions } from './render.js';

/** What a command's use-case is given: the global flags and where to send events. */
export interface CommandContext {
  global: GlobalOptions;
  events: EventSink;
}

/**
 * The shape every command shares: render events while the use-case runs,
 * then print exactly one JSON document with --json, or the command's text.
 * A report that `ok` judges a failure sets exit status 1.
 */
export async function runReport<R extends object>(
  cmd: Command,
  work: (ctx: CommandContext) => Promise<R>,
  text: (report: R) => string,
  ok: (report: R) => boolean = () => true,
): Promise<void> {
  const global = cmd.optsWithGlobals<GlobalOptions>();
  const renderer = createRenderer(renderOptions(global));
  let report: R;
  try {
    report = await work({ global, events: renderer.sink });
  } finally {
    renderer.done();
  }
  const success = ok(report);
  if (!success) process.exitCode = 1;
  process.stdout.write(
    global.json ? `${JSON.stringify({ ok: success, ...report }, null, 2)}\n` : text(report),
  );
}

/** Adds the repeatable `--insecure-registry <host:port>` flag. */
export function insecureRegistryOption(cmd: Command): Command {
  return cmd.option(
    '--insecure-registry <host:port>',
    'allow plain http to this registry (repeatable)',
    (v: string, prev: string[]) => [...prev, v],
    [],
  );
}
