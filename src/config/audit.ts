import { resolve as resolvePath } from 'node:path';
import type { PathSegment } from './locate.js';
import type { ProblemList } from './problems.js';
import { didYouMean } from './suggest.js';

/*
 * `audit:` in airlock.yaml: the project's key that signs checkpoints of the
 * audit log's head, and how often one is due.
 *
 *   audit:
 *     signingKey: keys/cosign.key   # cosign-format private key (airlock keygen), relative to the project
 *     checkpoint:
 *       entries: 100                # due once this many entries follow the last checkpoint (0: never by count)
 *       interval: 24h               # due once the last checkpoint is this old (0: never by time)
 *
 * A deploy, rollback or ship that moved traffic always signs one. Checked on
 * the parsed YAML value, every problem located at its key or value.
 */

/** The audit section with every default filled in. */
export interface AuditConfig {
  /** Absolute path of the cosign-format private key that signs checkpoints; absent: none are signed. */
  signingKey?: string;
  /** A checkpoint is due once this many entries follow the last one (0: never by count). */
  checkpointEntries: number;
  /** …or once the last one is this many ms old (0: never by time). */
  checkpointIntervalMs: number;
}

export const DEFAULT_CHECKPOINT_ENTRIES = 100;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 24 * 3_600_000;

const KEYS = {
  audit: ['signingKey', 'checkpoint'],
  checkpoint: ['entries', 'interval'],
} as const;

const INTERVAL = /^(\d+)\s*(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of `90s`, `30m`, `12h`, `7d` or `0`; undefined when not such a duration. */
export function parseIntervalMs(value: unknown): number | undefined {
  if (value === 0 || value === '0') return 0;
  if (typeof value !== 'string') return undefined;
  const m = INTERVAL.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The defaults when airlock.yaml has no `audit:`. */
export function defaultAuditConfig(): AuditConfig {
  return {
    checkpointEntries: DEFAULT_CHECKPOINT_ENTRIES,
    checkpointIntervalMs: DEFAULT_CHECKPOINT_INTERVAL_MS,
  };
}

/** Checks `audit:` and returns the model (undefined when it has a problem, each one reported). */
export function readAuditConfig(
  problems: ProblemList,
  raw: unknown,
  root: string,
): AuditConfig | undefined {
  const out = defaultAuditConfig();
  if (raw === undefined) return out;
  const before = problems.items.length;
  const unknownKeys = (
    path: PathSegment[],
    value: Record<string, unknown>,
    known: readonly string[],
    what: string,
  ): void => {
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const hit = didYouMean(key, known);
      problems.add(
        [...path, key],
        'key',
        `unknown key "${key}" in ${what}${hit === undefined ? '' : `; did you mean "${hit}"?`}`,
        hit === undefined
          ? `remove it; ${what} allows ${known.join(', ')}`
          : `rename it to "${hit}"`,
      );
    }
  };
  if (!isRecord(raw)) {
    problems.add(
      ['audit'],
      'value',
      '"audit" must be a mapping',
      'write audit: { signingKey: keys/cosign.key, checkpoint: { entries: 100, interval: 24h } }',
    );
    return undefined;
  }
  unknownKeys(['audit'], raw, KEYS.audit, 'audit');
  if (raw.signingKey !== undefined) {
    if (typeof raw.signingKey === 'string' && raw.signingKey.trim() !== '')
      out.signingKey = resolvePath(root, raw.signingKey.trim());
    else
      problems.add(
        ['audit', 'signingKey'],
        'value',
        '"signingKey" must be the path of a private key file',
        'write signingKey: keys/cosign.key (made by `airlock keygen`), relative to the project',
      );
  }
  const cp = raw.checkpoint;
  if (cp !== undefined) {
    if (!isRecord(cp)) {
      problems.add(
        ['audit', 'checkpoint'],
        'value',
        '"checkpoint" must be a mapping',
        'write checkpoint: { entries: 100, interval: 24h }',
      );
    } else {
      unknownKeys(['audit', 'checkpoint'], cp, KEYS.checkpoint, 'audit.checkpoint');
      if (cp.entries !== undefined) {
        if (typeof cp.entries === 'number' && Number.isSafeInteger(cp.entries) && cp.entries >= 0)
          out.checkpointEntries = cp.entries;
        else
          problems.add(
            ['audit', 'checkpoint', 'entries'],
            'value',
            `"entries" must be a whole number of entries (0 or more), not ${JSON.stringify(cp.entries)}`,
            'write entries: 100 (0 turns the count off)',
          );
      }
      if (cp.interval !== undefined) {
        const ms = parseIntervalMs(cp.interval);
        if (ms !== undefined) out.checkpointIntervalMs = ms;
        else
          problems.add(
            ['audit', 'checkpoint', 'interval'],
            'value',
            `"interval" must be a duration like 30m, 12h or 7d, not ${JSON.stringify(cp.interval)}`,
            'write interval: 24h (units s, m, h, d; 0 turns the timer off)',
          );
      }
    }
  }
  return problems.items.length === before ? out : undefined;
}
