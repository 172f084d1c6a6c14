import { Command, CommanderError } from 'commander';
import { commandModules } from './commands/index.js';
import { renderError } from './errors.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Global flags every command understands. */
export interface GlobalOptions {
  json?: boolean;
  store?: string;
  color?: boolean;
  verbose?: boolean;
}

/**
 * Builds the command tree. Command files only declare flags; each imports its
 * use-case from pipeline/ when it runs, so a warm `airlock build` starts fast.
 */
export function program(): Command {
  const cli = new Command('airlock')
    .description(
      'Hermetic builds: content-addressed store, sandboxed builds, action cache, reproducible artifacts.',
    )
    .version('0.1.0')
    .option('--json', 'print machine-readable JSON instead of text')
    .option('--store <dir>', 'store directory (default: $AIRLOCK_HOME or ~/.cache/airlock)')
    .option('--no-color', 'disable colour (NO_COLOR is honoured too)')
    .option('-v, --verbose', 'print debug detail')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandModules) register(cli);
  for (const sub of cli.commands) sub.exitOverride();
  return cli;
}

/** Runs the CLI and returns the exit status: 0 success, 1 failure, 2 usage. */
export async function main(argv: string[]): Promise<number> {
  const cli = program();
  try {
    await cli.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      const helpCodes = ['commander.helpDisplayed', 'commander.help', 'commander.version'];
      return helpCodes.includes(err.code) ? EXIT.ok : EXIT.usage;
    }
    return renderError(err, { json: cli.opts<GlobalOptions>().json === true });
  }
}
