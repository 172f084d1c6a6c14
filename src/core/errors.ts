/**
 * The one base error of Airlock. Every module declares its own union of codes
 * and throws `AirlockError<ItsCode>`; `cli/` maps codes to text and exit status.
 */
export class AirlockError<Code extends string = string> extends Error {
  override readonly name = 'AirlockError';
  readonly code: Code;
  /** How the user fixes it, in one or two sentences. */
  readonly hint: string | undefined;
  /** Machine-readable facts (file, line, digests …) for `--json` output. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: Code,
    message: string,
    options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }
}

/** True when `err` is an AirlockError, optionally with one of `codes`. */
export function isAirlockError<C extends string>(
  err: unknown,
  ...codes: C[]
): err is AirlockError<C> {
  return err instanceof AirlockError && (codes.length === 0 || codes.includes(err.code as C));
}

/** Node's errno code of `err`, if it has one (`ENOENT`, `EEXIST` …). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
