import { isAirlockError } from '../core/errors.js';
import type { AirlockErrorCode } from '../pipeline/errors.js';

/** The CLI's own code: a malformed command line (unknown flag, missing argument). */
export type CliErrorCode = 'USAGE';
import { sanitizeForTerminal } from './terminal.js';
import { namedFault } from '../store/guard.js';
import type { CliIo } from './session.js';

/** Codes that mean the user asked for something malformed: exit 2, like a usage error. */
const USAGE_CODES = new Set<AirlockErrorCode | CliErrorCode>([
  'USAGE',
  'UNKNOWN_ENVIRONMENT',
  'EMIT_UNSUPPORTED',
  'UNKNOWN_TARGET',
  'CHECK_ROOT_NOT_FOUND',
  'INIT_EXISTS',
  'KEY_EXISTS',
  'DESTINATION_IS_DIGEST',
  'REFERENCE_INCOMPLETE',
  'COPY_UNSUPPORTED',
  'REMOTE_CACHE_INVALID',
  'POLICY_INVALID',
  'BUNDLE_EXISTS',
  'NO_SIGNING_KEY',
]);

/**
 * The one place errors become user text. Known errors print their message and
 * hint; anything else is a bug and says so. Returns the exit status.
 */
export function renderError(thrown: unknown, opts: { json: boolean; io: CliIo }): number {
  const { stdout, stderr } = opts.io;
  // A full disk or a damaged database is the user's to fix, wherever it surfaced.
  const err = namedFault(thrown) ?? thrown;
  if (isAirlockError(err)) {
    // 130 = 128 + SIGINT, as shells report an interrupted command.
    const status =
      err.code === 'INTERRUPTED' ? 130 : USAGE_CODES.has(err.code as AirlockErrorCode) ? 2 : 1;
    if (opts.json) {
      stdout.write(
        `${JSON.stringify({ ok: false, error: { code: err.code, message: err.message, hint: err.hint, details: err.details } })}\n`,
      );
    } else {
      // A message can quote what a step printed (STEP_FAILED): never raw to the terminal.
      stderr.write(`error[${err.code}]: ${sanitizeForTerminal(err.message)}\n`);
      if (err.hint) stderr.write(`  fix: ${sanitizeForTerminal(err.hint)}\n`);
    }
    return status;
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (opts.json) {
    stdout.write(
      `${JSON.stringify({ ok: false, error: { code: 'BUG', message: String(err) } })}\n`,
    );
  } else {
    stderr.write(
      `error[BUG]: an unexpected error; this is a bug in Airlock, please report it with this text:\n${sanitizeForTerminal(text)}\n`,
    );
  }
  return 1;
}
