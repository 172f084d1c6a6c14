import { hostname, userInfo } from 'node:os';
import type { AuditActor } from '../audit/index.js';
import type { Clock } from '../core/clock.js';

/*
 * Who acts, for the audit log. Apart from audit.ts (which loads the signing
 * and registry code for checkpoints and export) so that a build can name its
 * actor without loading them.
 */

/** Who acts and when, for the audit log; injected (tests, the dashboard). */
export interface AuditEnv {
  /** Default: the store's clock. */
  clock?: Clock;
  /** Default: the OS user ($USER when the OS has no name for the uid). */
  user?: string;
  /** Default: the host name. */
  host?: string;
  /** What acted for the user (e.g. `dashboard`). */
  via?: string;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env['USER'] ?? process.env['LOGNAME'] ?? `uid:${process.getuid?.() ?? '?'}`;
  }
}

/** The actor of an event under `env`. */
export function auditActor(env: AuditEnv = {}): AuditActor {
  return {
    user: env.user ?? osUser(),
    host: env.host ?? hostname(),
    ...(env.via ? { via: env.via } : {}),
  };
}
