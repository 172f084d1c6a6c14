/** A version as three numbers (a prerelease never satisfies a range here, as npm does by default). */
type Triple = [number, number, number];

function parseVersion(v: string): Triple | undefined {
  const m = /^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?\s*$/.exec(v);
  return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : undefined;
}

function cmp(a: Triple, b: Triple): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** `x`, `x.y`, `x.y.z` with `x`/`*` wildcards → the lowest version and how many parts were given. */
function partial(v: string): { low: Triple; parts: number } | undefined {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+][\w.-]*)?$/.exec(v);
  if (!m) return undefined;
  const raw = [m[1], m[2], m[3]];
  let parts = 0;
  const low: Triple = [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    const p = raw[i];
    if (p === undefined || /^[xX*]$/.test(p)) break;
    low[i] = Number(p);
    parts++;
  }
  return { low, parts };
}

/** The version just above every version matching the first `parts` parts of `low`. */
function bump(low: Triple, parts: number): Triple | undefined {
  if (parts === 0) return undefined;
  if (parts === 1) return [low[0] + 1, 0, 0];
  if (parts === 2) return [low[0], low[1] + 1, 0];
  return [low[0], low[1], low[2] + 1];
}

/** One comparator set (space-separated, all must hold) as a test, or undefined when it cannot be read. */
function comparatorSet(set: string): ((v: Triple) => boolean) | undefined {
  const s = set.trim().replace(/([<>=~^]+)\s+/g, '$1');
  const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(s);
  if (hyphen) {
    const a = partial(hyphen[1]!);
    const b = partial(hyphen[2]!);
    if (!a || !b) return undefined;
    const top = bump(b.low, b.parts);
    return (v) => cmp(v, a.low) >= 0 && (top ? cmp(v, top) < 0 : true);
  }
  const tests: ((v: Triple) => boolean)[] = [];
  for (const tok of s.split(/\s+/).filter(Boolean)) {
    const m = /^(<=|>=|<|>|=|\^|~>?|)(.*)$/.exec(tok)!;
    const op = m[1]!;
    const p = partial(m[2]!);
    if (!p) return undefined;
    const { low, parts } = p;
    const top = bump(low, parts);
    switch (op) {
      case '>=':
        tests.push((v) => cmp(v, low) >= 0);
        break;
      case '>':
        tests.push((v) => (top && parts < 3 ? cmp(v, top) >= 0 : cmp(v, low) > 0));
        break;
      case '<':
        tests.push((v) => cmp(v, low) < 0);
        break;
      case '<=':
        tests.push((v) => (top && parts < 3 ? cmp(v, top) < 0 : cmp(v, low) <= 0));
        break;
      case '^': {
        const upper: Triple =
          low[0] > 0 || parts === 1
            ? [low[0] + 1, 0, 0]
            : low[1] > 0 || parts === 2
              ? [0, low[1] + 1, 0]
              : [0, 0, low[2] + 1];
        tests.push((v) => cmp(v, low) >= 0 && cmp(v, upper) < 0);
        break;
      }
      case '~':
      case '~>': {
        const upper: Triple = parts <= 1 ? [low[0] + 1, 0, 0] : [low[0], low[1] + 1, 0];
        tests.push((v) => cmp(v, low) >= 0 && cmp(v, upper) < 0);
        break;
      }
      default:
        tests.push((v) => cmp(v, low) >= 0 && (top ? cmp(v, top) < 0 : true));
    }
  }
  return (v) => tests.every((t) => t(v));
}

/**
 * Whether `version` satisfies an npm-style range (`>=20.19`, `^18 || ^20`,
 * `18.x`, `16 - 20`, `*`); undefined when the range cannot be read. Pure.
 */
export function satisfiesRange(version: string, range: string): boolean | undefined {
  const v = parseVersion(version);
  if (!v) return undefined;
  const trimmed = range.trim();
  if (trimmed === '' || trimmed === '*' || trimmed === 'x') return true;
  let any = false;
  for (const set of trimmed.split('||')) {
    const test = comparatorSet(set);
    if (!test) return undefined;
    if (test(v)) any = true;
  }
  return any;
}
