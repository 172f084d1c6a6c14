import type { Command } from 'commander';
import type { EventSink } from '../core/events.js';
import type { GlobalOptions } from './main.js';
import { createRenderer, renderOptions } from './render.js';
import { sanitizeForTerminal } from './terminal.js';
import { sessionOf, type CliSession } from './session.js';

/** What a command's use-case is given: the global flags, where to send events, and Ctrl-C. */
export interface CommandContext {
  /** The global flags, `store` already an absolute path. */
  global: GlobalOptions;
  events: EventSink;
  /** Aborted by the first SIGINT/SIGTERM; a second one exits at once with 130. */
  signal: AbortSignal;
  /** The run's I/O and working directory (resolve path flags through `session.path`). */
  session: CliSession;
}

/** The global flags of the run that parsed `cmd`, with `--store` resolved against its working directory. */
export function globalOptions(cmd: Command): GlobalOptions {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const store = sessionOf(cmd).optionalPath(g.store);
  return store === undefined ? g : { ...g, store };
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
  const session = sessionOf(cmd);
  const global = globalOptions(cmd);
  const renderer = createRenderer(renderOptions(global, session.io), session.io.stderr);
  session.io.watchInterrupts?.();
  let report: R;
  try {
    report = await work({ global, events: renderer.sink, signal: session.io.signal, session });
  } finally {
    renderer.done();
  }
  const success = ok(report);
  if (!success) session.exitCode = 1;
  session.io.stdout.write(reportText(global, report, text, success));
}

/** What a command prints on stdout for `report`: one JSON document with --json, else its text. */
export function reportText<R extends object>(
  global: GlobalOptions,
  report: R,
  text: (report: R) => string,
  success = true,
): string {
  // Reports can name what a step created (output paths): never raw to the terminal.
  return global.json
    ? `${JSON.stringify({ ok: success, ...report }, null, 2)}\n`
    : sanitizeForTerminal(text(report));
}

/**
 * What the audit use-cases need from the CLI's environment: the password of
 * the key that signs a checkpoint when one is due (never asked for: a deploy
 * does not stop at a prompt; without it the use-case warns instead).
 */
export function auditEnvOf(session: CliSession): { signing: { password?: string } } {
  const password = session.io.env['AIRLOCK_PASSWORD'] ?? session.io.env['COSIGN_PASSWORD'];
  return { signing: password === undefined ? {} : { password } };
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
