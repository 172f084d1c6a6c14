import { describe, expect, it } from 'vitest';
import { buildEventProblems, pushEventProblems } from './build-event.js';
import { auditEventSchemas } from './events.js';

const D = `sha256:${'a'.repeat(64)}`;

const VALID: Record<string, unknown> = {
  project: 'shop',
  target: 'app',
  repository: 'https://example.com/shop.git',
  sourceCommit: 'c'.repeat(40),
  dirty: false,
  actionKey: D,
  cache: 'hit',
  remote: { repository: 'r.example/cache', signer: D },
  toolchain: [{ name: 'node', digest: D }],
  sourceDateEpoch: 1700000000,
  artifact: D,
  tag: 'shop/app',
  record: D,
  outputTree: D,
  startedAt: 1,
  finishedAt: 2,
};

const without = (k: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(VALID).filter(([key]) => key !== k));

/** Valid and invalid variants of a build event's data: every field missing, of the wrong kind, or odd. */
function variants(): [string, unknown][] {
  const out: [string, unknown][] = [['valid', VALID]];
  for (const k of Object.keys(VALID)) {
    out.push([`without ${k}`, without(k)]);
    for (const bad of [null, 7, -1, 1.5, 'x', '', true, [], {}, undefined, Number.NaN, D])
      out.push([`${k} = ${JSON.stringify(bad)}`, { ...VALID, [k]: bad }]);
  }
  out.push(
    ['an unknown key', { ...VALID, extra: 1 }],
    ['cache = miss', { ...VALID, cache: 'miss' }],
    ['an upper-case digest', { ...VALID, artifact: D.toUpperCase() }],
    ['a short digest', { ...VALID, artifact: D.slice(0, -1) }],
    ['a digest with a newline after it', { ...VALID, artifact: `${D}\n` }],
    ['remote with an unknown key', { ...VALID, remote: { repository: 'r', signer: 's', x: 1 } }],
    ['remote without signer', { ...VALID, remote: { repository: 'r' } }],
    [
      'a toolchain entry with an unknown key',
      { ...VALID, toolchain: [{ name: 'n', digest: 'd', x: 1 }] },
    ],
    ['a toolchain entry without digest', { ...VALID, toolchain: [{ name: 'n' }] }],
    ['no toolchain entries', { ...VALID, toolchain: [] }],
    ['a negative epoch', { ...VALID, sourceDateEpoch: -5 }],
    ['an unsafe integer', { ...VALID, startedAt: 2 ** 60 }],
    ['Infinity', { ...VALID, finishedAt: Number.POSITIVE_INFINITY }],
    ['an array', [VALID]],
    ['null', null],
    ['a string', 'build'],
  );
  return out;
}

describe('the zod-free check of build events', () => {
  it.each(variants())('gives the verdict of the zod schema for %s', (_name, data) => {
    const zod = auditEventSchemas().build.safeParse(data).success;
    expect(buildEventProblems(data).length === 0).toBe(zod);
  });

  it('names each problem with its field', () => {
    expect(buildEventProblems({ ...without('tag'), cache: 'maybe', extra: 1 })).toEqual([
      'cache: invalid value',
      'tag: required',
      'extra: unrecognized key',
    ]);
  });
});

const PUSH: Record<string, unknown> = {
  registry: 'registry.example:5000',
  repository: 'shop/app',
  tag: '1.0',
  digest: D,
  reference: `registry.example:5000/shop/app@${D}`,
  attachments: 2,
};

/** Valid and invalid variants of a push event's data, as `variants` does for builds. */
function pushVariants(): [string, unknown][] {
  const out: [string, unknown][] = [['valid', PUSH]];
  for (const k of Object.keys(PUSH)) {
    out.push([
      `without ${k}`,
      Object.fromEntries(Object.entries(PUSH).filter(([key]) => key !== k)),
    ]);
    for (const bad of [null, 7, -1, 1.5, 'x', '', true, [], {}, undefined, Number.NaN, D])
      out.push([`${k} = ${JSON.stringify(bad)}`, { ...PUSH, [k]: bad }]);
  }
  out.push(
    ['an unknown key', { ...PUSH, extra: 1 }],
    ['no attachments', { ...PUSH, attachments: 0 }],
    ['an unsafe integer', { ...PUSH, attachments: 2 ** 60 }],
    ['Infinity', { ...PUSH, attachments: Number.POSITIVE_INFINITY }],
    ['an upper-case digest', { ...PUSH, digest: D.toUpperCase() }],
    ['a digest with a newline after it', { ...PUSH, digest: `${D}\n` }],
    ['an array', [PUSH]],
    ['null', null],
  );
  return out;
}

describe('the zod-free check of push events', () => {
  it.each(pushVariants())('gives the verdict of the zod schema for %s', (_name, data) => {
    const zod = auditEventSchemas().push.safeParse(data).success;
    expect(pushEventProblems(data).length === 0).toBe(zod);
  });

  it('names each problem with its field', () => {
    const noDigest = Object.fromEntries(Object.entries(PUSH).filter(([k]) => k !== 'digest'));
    expect(pushEventProblems({ ...noDigest, attachments: -1, x: 1 })).toEqual([
      'digest: required',
      'attachments: invalid value',
      'x: unrecognized key',
    ]);
  });
});
