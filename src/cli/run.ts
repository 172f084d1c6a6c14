import type { Command } from 'commander';
import type { EventSink } from '../core/events.js';
import type { GlobalOptions } from './main.js';
import { createRenderer, renderOptions } from './render.js';
import { sanitizeForTerminal } from './terminal.js';

/** What a command's use-case is given: the global flags, where to send events, and Ctrl-C. */
export interface CommandContext {
  global: GlobalOptions;
  events: EventSink;
  /** Aborted by the first SIGINT/SIGTERM; a second one exits at once with 130. */
  signal: AbortSignal;
}

const interrupt = new AbortController();
let handlersInstalled = false;

/** Turns the first Ctrl-C into a clean stop (steps killed, temp files removed) instead of an exit mid-write. */
function installInterruptHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (name: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write(
      `\n${name}: stopping running steps and cleaning up (press Ctrl-C again to quit at once)\n`,
    );
    interrupt.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
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
  installInterruptHandlers();
  let report: R;
  try {
    report = await work({ global, events: renderer.sink, signal: interrupt.signal });
  } finally {
    renderer.done();
  }
  const success = ok(report);
  if (!success) process.exitCode = 1;
  // Reports can name what a step created (output paths): never raw to the terminal.
  process.stdout.write(
    global.json
      ? `${JSON.stringify({ ok: success, ...report }, null, 2)}\n`
      : sanitizeForTerminal(text(report)),
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
