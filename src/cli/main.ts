import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { commandModules } from './commands/index.js';
import { AirlockError } from '../core/errors.js';
import { AIRLOCK_VERSION } from '../core/version.js';
import { renderError } from './errors.js';
import { CliSession, attachSession, processIo, type CliIo } from './session.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Global flags every command understands. */
export interface GlobalOptions {
  json?: boolean;
  store?: string;
  color?: boolean;
  verbose?: boolean;
}

/**
 * Builds the command tree for one run. Command files only declare flags; each
 * imports its use-case from pipeline/ when it runs, so a warm `airlock build`
 * starts fast, and reaches its I/O through `sessionOf(cmd)`.
 */
export function program(session: CliSession = new CliSession(processIo())): Command {
  const cli = new Command('airlock')
    .description(
      'Hermetic builds: content-addressed store, sandboxed builds, action cache, reproducible artifacts.',
    )
    .version(AIRLOCK_VERSION)
    .option('--json', 'print machine-readable JSON instead of text')
    .option(
      '--store <dir>',
      'store directory (default: $AIRLOCK_HOME or ~/.cache/airlock)',
      nonEmptyPath,
    )
    .option('--no-color', 'disable colour (NO_COLOR is honoured too)')
    .option('-v, --verbose', 'print debug detail')
    // Usage errors are rendered by renderError like every other error.
    .configureOutput({
      outputError: () => {},
      writeOut: (text) => session.io.stdout.write(text),
      writeErr: (text) => session.io.stderr.write(text),
    })
    .exitOverride();
  attachSession(cli, session);
  for (const register of commandModules) register(cli);
  for (const sub of cli.commands) sub.exitOverride();
  return cli;
}

/**
 * Runs the CLI and returns the exit status: 0 success, 1 failure, 2 usage.
 * Re-entrant: it never exits the process, and everything it reads and writes
 * goes through `io` (the real process's by default).
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const session = new CliSession(io);
  session.argv = argv;
  const cli = program(session);
  try {
    refuseUnknownCommand(cli, argv);
    await cli.parseAsync(argv);
    return session.exitCode ?? EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      const helpCodes = ['commander.helpDisplayed', 'commander.help', 'commander.version'];
      if (helpCodes.includes(err.code)) return EXIT.ok;
      const usage = new AirlockError('USAGE', err.message.replace(/^error: /, ''), {
        hint: `Run "airlock ${commandPath(cli, argv)}--help" to see the arguments and flags it takes.`,
      });
      return renderError(usage, { json: argv.includes('--json'), io });
    }
    return renderError(err, { json: cli.opts<GlobalOptions>().json === true, io });
  }
}

/** The command words of argv (`store gc `), for the usage hint; global flags may come first. */
function commandPath(cli: Command, argv: string[]): string {
  const known = new Set(cli.commands.map((c) => c.name()));
  const args = argv.slice(2);
  const i = args.findIndex((a) => known.has(a));
  if (i < 0) return '';
  const sub = args[i + 1];
  return args[i] === 'store' && sub && !sub.startsWith('-') ? `store ${sub} ` : `${args[i]} `;
}

/** `--store ''` would silently mean the current directory: refuse it. */
function nonEmptyPath(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('the store directory must not be empty.');
  return value;
}

// Global flags that take a value, so the word after them is not a command.
const GLOBAL_VALUE_FLAGS = new Set(['--store']);

/**
 * Commander shows the top-level help for `airlock <unknown> --help` and exits 0;
 * an unknown first word is a usage error whatever flags follow it.
 */
function refuseUnknownCommand(cli: Command, argv: string[]): void {
  const args = argv.slice(2);
  let word: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      word = args[i + 1];
      break;
    }
    if (GLOBAL_VALUE_FLAGS.has(a)) i++;
    else if (!a.startsWith('-')) {
      word = a;
      break;
    }
  }
  if (word === undefined) return;
  const known = cli.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  if (word === 'help' || known.includes(word)) return;
  throw new CommanderError(2, 'commander.unknownCommand', `error: unknown command '${word}'`);
}
