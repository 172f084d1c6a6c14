import type { Command } from 'commander';

/** Each command file exports `register(cli)`; the list is the CLI's command set. */
export const commandModules: ((cli: Command) => void)[] = [];
