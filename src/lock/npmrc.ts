/*
 * The parts of .npmrc that `airlock fetch` uses: the default registry and
 * per-registry tokens (`//host[:port]/path/:_authToken=…`, `${VAR}` expanded
 * from the environment). Tokens live only in this structure: they are never
 * put in events, errors or the lock.
 */

export interface NpmRc {
  /** `registry=`; undefined when not set. */
  registry?: string;
  /** Token by nerf-darted registry prefix (`//host:port/path/`). */
  tokens: Map<string, string>;
}

/** Parses .npmrc texts, later ones overriding earlier ones (user, then project). */
export function parseNpmrc(texts: readonly string[], env: NodeJS.ProcessEnv): NpmRc {
  const out: NpmRc = { tokens: new Map() };
  const expand = (v: string): string =>
    v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '');
  for (const text of texts) {
    for (const line of text.split(/\r?\n/)) {
      const t = line.trim();
      if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
      const eq = t.indexOf('=');
      if (eq < 0) continue;
      const key = t.slice(0, eq).trim();
      let value = t.slice(eq + 1).trim();
      if (/^".*"$/.test(value) || /^'.*'$/.test(value)) value = value.slice(1, -1);
      value = expand(value);
      if (key === 'registry') out.registry = value;
      else if (key.startsWith('//') && key.endsWith(':_authToken')) {
        let prefix = key.slice(0, -':_authToken'.length);
        if (!prefix.endsWith('/')) prefix += '/';
        if (value !== '') out.tokens.set(prefix, value);
      }
    }
  }
  return out;
}

/**
 * The token for `url`: the longest configured prefix that `//host[:port]/path`
 * of the URL starts with. A URL on another host (or port) never gets it.
 */
export function tokenFor(rc: NpmRc, url: URL): string | undefined {
  const nerf = `//${url.host}${url.pathname}`;
  let best: { prefix: string; token: string } | undefined;
  for (const [prefix, token] of rc.tokens) {
    if (!nerf.startsWith(prefix)) continue;
    if (!best || prefix.length > best.prefix.length) best = { prefix, token };
  }
  return best?.token;
}
