/*
 * The check of a `build` or `push` event's data without zod: every build
 * records one event per target and every push one event, and loading zod
 * (≈70 ms, far more on a busy machine) would be most of a no-op build's audit
 * cost and a sizeable part of a push. Each accepts exactly what the zod schema
 * of the same name in events.ts accepts (those schemas stay the contract;
 * build-event.test.ts holds each pair to the same verdicts).
 */

const DIGEST = /^sha256:[0-9a-f]{64}$/;

type Check = (v: unknown) => boolean;

const isString: Check = (v) => typeof v === 'string';
const isDigest: Check = (v) => typeof v === 'string' && DIGEST.test(v);
const isInt: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v);
const isMs: Check = (v) => isInt(v) && (v as number) >= 0;
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object with exactly these keys (optional ones may be absent), each passing its check. */
function strictObject(
  required: Record<string, Check>,
  optional: Record<string, Check> = {},
): (v: unknown, path: string, problems: string[]) => void {
  return (v, path, problems) => {
    if (!isRecord(v)) {
      problems.push(`${path}: expected an object`);
      return;
    }
    for (const [k, check] of Object.entries(required)) {
      if (!(k in v)) problems.push(`${path}${k}: required`);
      else if (!check(v[k])) problems.push(`${path}${k}: invalid value`);
    }
    for (const [k, check] of Object.entries(optional)) {
      if (v[k] !== undefined && !check(v[k])) problems.push(`${path}${k}: invalid value`);
    }
    for (const k of Object.keys(v)) {
      if (!(k in required) && !(k in optional)) problems.push(`${path}${k}: unrecognized key`);
    }
  };
}

const checkToolchainEntry = strictObject({ name: isString, digest: isString });
const checkRemote = strictObject({ repository: isString, signer: isString });

const checkBuild = strictObject(
  {
    project: isString,
    target: isString,
    actionKey: isDigest,
    cache: (v) => v === 'hit' || v === 'miss',
    toolchain: (v) =>
      Array.isArray(v) &&
      v.every((t) => {
        const p: string[] = [];
        checkToolchainEntry(t, '', p);
        return p.length === 0;
      }),
    sourceDateEpoch: isInt,
    artifact: isDigest,
    tag: isString,
    outputTree: isDigest,
    startedAt: isMs,
    finishedAt: isMs,
  },
  {
    repository: isString,
    sourceCommit: isString,
    dirty: (v) => typeof v === 'boolean',
    remote: (v) => {
      const p: string[] = [];
      checkRemote(v, '', p);
      return p.length === 0;
    },
    record: isDigest,
  },
);

/** What is wrong with `data` as a build event's data ("field: why" each); empty when it is valid. */
export function buildEventProblems(data: unknown): string[] {
  const problems: string[] = [];
  checkBuild(data, '', problems);
  return problems;
}

const checkPush = strictObject(
  {
    registry: isString,
    repository: isString,
    digest: isDigest,
    reference: isString,
    attachments: (v) => isInt(v) && (v as number) >= 0,
  },
  { tag: isString },
);

/** What is wrong with `data` as a push event's data ("field: why" each); empty when it is valid. */
export function pushEventProblems(data: unknown): string[] {
  const problems: string[] = [];
  checkPush(data, '', problems);
  return problems;
}
