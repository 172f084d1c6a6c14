import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { registryError } from './errors.js';

/** A username and password (or identity token) for one registry host. */
export interface Credential {
  username: string;
  password: string;
}

/** Looks up the credential for a registry host; never logs or returns it elsewhere. */
export type CredentialStore = (registry: string) => Credential | undefined;

/** A parsed `WWW-Authenticate` challenge. */
export type Challenge =
  | { scheme: 'basic'; realm?: string }
  | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

/** The credential carried by a docker-config `auths` entry (`auth` base64 or username/password). */
function fromAuthEntry(entry: unknown): Credential | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Record<string, unknown>;
  if (typeof e['auth'] === 'string' && e['auth'].length > 0) {
    const text = Buffer.from(e['auth'], 'base64').toString('utf8');
    const i = text.indexOf(':');
    if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
  }
  if (typeof e['username'] === 'string' && typeof e['password'] === 'string') {
    return { username: e['username'], password: e['password'] };
  }
  if (typeof e['identitytoken'] === 'string') {
    return { username: '<token>', password: e['identitytoken'] };
  }
  return undefined;
}

/** The host part of a docker-config key (`https://index.docker.io/v1/` → `index.docker.io`). */
function normaliseAuthKey(key: string): string {
  const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

/**
 * Parses a docker `config.json` (or the same shape in AIRLOCK_REGISTRY_AUTH:
 * `{"auths":{"host:port":{"auth":"base64(user:pass)"}}}` or the bare `auths` map)
 * into a host → credential map. Malformed input yields an empty map.
 */
export function parseAuthConfig(text: string): Map<string, Credential> {
  const out = new Map<string, Credential>();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return out;
  }
  if (typeof doc !== 'object' || doc === null) return out;
  const d = doc as Record<string, unknown>;
  const auths = typeof d['auths'] === 'object' && d['auths'] !== null ? d['auths'] : d;
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const cred = fromAuthEntry(entry);
    if (cred) out.set(normaliseAuthKey(key), cred);
  }
  return out;
}

/**
 * Credentials from `AIRLOCK_REGISTRY_AUTH` (wins) and `$DOCKER_CONFIG/config.json`
 * or `~/.docker/config.json`; credential helpers are not consulted.
 */
export async function loadCredentials(
  env: Record<string, string | undefined> = process.env,
): Promise<CredentialStore> {
  const merged = new Map<string, Credential>();
  const dir = env['DOCKER_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.docker');
  try {
    for (const [k, v] of parseAuthConfig(await readFile(join(dir, 'config.json'), 'utf8'))) {
      merged.set(k, v);
    }
  } catch {
    // No docker config: anonymous unless the environment says otherwise.
  }
  const fromEnv = env['AIRLOCK_REGISTRY_AUTH'];
  if (fromEnv) for (const [k, v] of parseAuthConfig(fromEnv)) merged.set(k, v);
  return (registry) => merged.get(normaliseAuthKey(registry));
}

/** A credential store over a fixed map, for tests and embedding. */
export function staticCredentials(map: Record<string, Credential>): CredentialStore {
  return (registry) => map[registry];
}

/**
 * Parses one `WWW-Authenticate` header (RFC 7235 auth-params, quoted or
 * token values); a Bearer challenge without an http(s) realm is malformed.
 */
export function parseChallenge(header: string, reference: string): Challenge {
  const m = /^\s*([A-Za-z]+)(?:\s+(.*))?$/s.exec(header);
  const malformed = (why: string): never => {
    throw registryError(
      'AUTH_CHALLENGE_INVALID',
      `${reference}: the registry sent a malformed WWW-Authenticate header (${why})`,
      'The registry or a proxy in front of it is misconfigured; check its auth settings.',
      { reference, header: header.slice(0, 200) },
    );
  };
  if (!m) return malformed('no scheme');
  const scheme = m[1]!.toLowerCase();
  const params: Record<string, string> = {};
  let rest = m[2] ?? '';
  const re = /^\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|$)/;
  while (rest.trim().length > 0) {
    const p = re.exec(rest);
    if (!p) return malformed('unparseable parameters');
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
    rest = rest.slice(p[0].length);
  }
  if (scheme === 'basic') return params['realm'] ? { scheme, realm: params['realm'] } : { scheme };
  if (scheme !== 'bearer') return malformed(`unsupported scheme ${scheme}`);
  const realm = params['realm'];
  if (!realm || !/^https?:\/\/[^\s]+$/.test(realm)) return malformed('no http(s) realm');
  const c: Challenge = { scheme: 'bearer', realm };
  if (params['service'] !== undefined) c.service = params['service'];
  if (params['scope'] !== undefined) c.scope = params['scope'];
  return c;
}

/** The Basic authorization header value for a credential. */
export function basicAuth(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
