/** Where time comes from; injected so output depends only on inputs. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock stopped at `ms`, for tests and for SOURCE_DATE_EPOCH. */
export function fixedClock(ms: number): Clock {
  return { now: () => ms };
}
