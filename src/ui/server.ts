import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { AirlockError, isAirlockError } from '../core/errors.js';
import { noEvents, type EventSink } from '../core/events.js';
import {
  dashboardAudit,
  dashboardEnvironments,
  type DashboardEnvironment,
} from '../pipeline/dashboard-audit.js';
import {
  AUDIT_EVENT_TYPES,
  isAuditEventType,
  parseSince,
  type AuditFilter,
} from '../pipeline/audit.js';
import { runLineage } from '../pipeline/lineage.js';
import {
  dashboardArtifact,
  dashboardArtifacts,
  dashboardTargets,
  dashboardWhy,
  storeFingerprint,
} from '../pipeline/dashboard.js';
import type { DashboardErrorCode } from '../pipeline/errors.js';
import { defaultStoreRoot } from '../store/index.js';

/*
 * `airlock ui`: a Hono server on 127.0.0.1 serving the dashboard's pages
 * (Preact + htm, routed by preact-iso, charts by Chart.js, graphs by
 * Cytoscape, all served from node_modules: nothing from the network) and a
 * JSON API under /api that the pages read.
 *
 *   GET  /?token=<t>            sets the session cookie and redirects to /
 *   GET  /api/session           what the pages need to draw: panels, actions allowed
 *   GET  /api/targets           targets and their last build (fast: no input is hashed)
 *   GET  /api/targets/why       each target's `why` verdict for its next build
 *   GET  /api/artifacts         tagged artifacts
 *   GET  /api/artifacts/:ref    one artifact with its evidence (and verify, with a policy)
 *   GET  /api/environments      environments, regions, weights, drift, gates over time (the audit log's deploy events)
 *   GET  /api/audit             the audit log's newest entries and `audit verify` of the whole chain
 *   GET  /api/lineage?subject=|uses=   `airlock lineage` as a graph
 *   GET  /api/events            server-sent events: `change` whenever the store changes
 *   GET  /api/<panel>/...       routes of plugged-in panels (environments, audit, lineage)
 *   POST /api/actions/rollback  only with --allow-actions and a deploy engine
 *
 * Every /api request needs the token (cookie or `Authorization: Bearer`),
 * the server's own Host (no DNS rebinding) and no foreign Origin (no CSRF);
 * a POST must carry the server's own Origin.
 */

/** A page of the dashboard supplied from outside ui/: audit log, lineage, environments. */
export interface DashboardPanel {
  /** The page's path and the prefix of its API routes: `/api/<id>/…`. */
  id: string;
  title: string;
  /** Registers the panel's GET routes on the API (mounted at `/api/<id>`). */
  routes(api: Hono): void;
}

/** An environment as the environments page shows it: regions, rollout gates, rollbacks. */
export type EnvironmentView = DashboardEnvironment;

/** Where the environments page reads from; default: the deploy events of the audit log. */
export interface EnvironmentsSource {
  list(): Promise<EnvironmentView[]>;
}

/** What the dashboard may do, each only with `allowActions`. */
export interface DashboardActions {
  /** Rolls `environment` (one region, or all) back; `actor` is recorded as who did it. */
  rollback?(req: {
    environment: string;
    region?: string;
    actor: string;
    reason: string;
  }): Promise<{ message: string }>;
}

export interface DashboardOptions {
  /** The project directory (its airlock.yaml gives the targets). */
  project: string;
  /** Store root; default $AIRLOCK_HOME or ~/.cache/airlock. */
  store?: string | undefined;
  /** A policy file: artifact pages then show `airlock verify --policy` results. */
  policy?: string | undefined;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string | undefined;
  /** Port; default 0 (any free port). */
  port?: number | undefined;
  /** The access token; default 32 random bytes, base64url. */
  token?: string | undefined;
  /** Allow actions that change something (rollback); default read-only. */
  allowActions?: boolean | undefined;
  environments?: EnvironmentsSource | undefined;
  actions?: DashboardActions | undefined;
  /** More pages (audit log, lineage). */
  panels?: readonly DashboardPanel[] | undefined;
  /** How often the store is checked for changes to push to open pages (ms); default 250. */
  pollMs?: number | undefined;
  events?: EventSink | undefined;
}

export interface Dashboard {
  /** `http://<host>:<port>` */
  origin: string;
  /** The address to open: the origin with the token, which the server turns into a cookie. */
  url: string;
  token: string;
  close(): Promise<void>;
}

const COOKIE = 'airlock_ui';
/** The actor recorded for actions taken from the dashboard. */
export const DASHBOARD_ACTOR = 'dashboard';

const CLIENT_DIR = fileURLToPath(new URL('./client/', import.meta.url));
const require = createRequire(import.meta.url);

/** A file of an installed package, found from its entry point (its exports may not list the file). */
function packageFile(name: string, file: string): string {
  let dir = dirname(require.resolve(name));
  while (dir !== dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name
    )
      return join(dir, file);
    dir = dirname(dir);
  }
  throw new Error(`cannot find the package ${name} beside ${require.resolve(name)}`);
}

/** Library files the pages import, served from node_modules under /vendor/ (found when a server starts). */
const vendorFiles = (): Record<string, string> => ({
  'preact.mjs': packageFile('preact', 'dist/preact.mjs'),
  'preact-hooks.mjs': packageFile('preact', 'hooks/dist/hooks.mjs'),
  'htm.mjs': packageFile('htm', 'dist/htm.mjs'),
  'preact-iso-router.js': packageFile('preact-iso', 'src/router.js'),
  'chart.umd.min.js': packageFile('chart.js', 'dist/chart.umd.min.js'),
  'cytoscape.esm.min.mjs': packageFile('cytoscape', 'dist/cytoscape.esm.min.mjs'),
});

const IMPORT_MAP = JSON.stringify({
  imports: {
    preact: '/vendor/preact.mjs',
    'preact/hooks': '/vendor/preact-hooks.mjs',
    htm: '/vendor/htm.mjs',
    'preact-iso/router': '/vendor/preact-iso-router.js',
  },
});

/** The page shell: the import map inline (allowed by its hash in the CSP), the app as a module. */
function shell(): { html: string; csp: string } {
  const html = readFileSync(`${CLIENT_DIR}index.html`, 'utf8').replace(
    '<!--importmap-->',
    `<script type="importmap">${IMPORT_MAP}</script>`,
  );
  const hash = createHash('sha256').update(IMPORT_MAP).digest('base64');
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    // Chart.js and Cytoscape set inline styles on the elements they draw.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
  return { html, csp };
}

/** Equal-time comparison of a presented token with the real one. */
function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Builds the Hono app; `origin()` is read per request (the port is known only once listening). */
export function dashboardApp(opts: DashboardOptions & { token: string }, origin: () => string) {
  const events = opts.events ?? noEvents;
  const store = opts.store ?? defaultStoreRoot();
  const { html, csp } = shell();
  const vendor = vendorFiles();
  const app = new Hono();
  const subscribers = new Set<() => void>();

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', csp);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
  });

  /** Refuses what did not come from a page of this dashboard (CSRF, DNS rebinding) or lacks the token. */
  const guard: MiddlewareHandler = async (c, next) => {
    const own = origin();
    if (c.req.header('host') !== new URL(own).host)
      return c.json({ error: 'wrong Host header: open the dashboard at ' + own }, 403);
    const from = c.req.header('origin');
    const site = c.req.header('sec-fetch-site');
    if ((from !== undefined && from !== own) || (site !== undefined && site !== 'same-origin'))
      return c.json({ error: 'cross-origin request refused' }, 403);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && from !== own)
      return c.json(
        { error: 'a request that changes something must come from the dashboard' },
        403,
      );
    const bearer = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    if (!tokenMatches(bearer ?? getCookie(c, COOKIE), opts.token))
      return c.json(
        { error: 'missing or wrong access token: open the address `airlock ui` printed' },
        401,
      );
    await next();
  };
  app.use('/api/*', guard);

  const panels = [
    { id: 'targets', title: 'Targets' },
    { id: 'artifacts', title: 'Artifacts' },
    { id: 'lineage', title: 'Lineage' },
    { id: 'environments', title: 'Environments' },
    { id: 'audit', title: 'Audit log' },
    ...(opts.panels ?? []).map((p) => ({ id: p.id, title: p.title })),
  ];
  const canRollback = opts.allowActions === true && opts.actions?.rollback !== undefined;

  app.get('/api/session', (c) =>
    c.json({
      store,
      project: opts.project,
      policy: opts.policy ?? null,
      panels,
      actions: { rollback: canRollback },
    }),
  );
  app.get('/api/targets', async (c) =>
    c.json(await dashboardTargets({ project: opts.project, store, events })),
  );
  app.get('/api/targets/why', async (c) =>
    c.json(await dashboardWhy({ project: opts.project, store, events })),
  );
  app.get('/api/artifacts', async (c) => c.json(await dashboardArtifacts({ store, events })));
  app.get('/api/artifacts/:ref{.+}', async (c) =>
    c.json(
      await dashboardArtifact({
        artifact: c.req.param('ref'),
        store,
        policy: opts.policy,
        events,
      }),
    ),
  );
  const environments = opts.environments ?? {
    list: async () => (await dashboardEnvironments({ store, events })).environments,
  };
  app.get('/api/environments', async (c) => c.json({ environments: await environments.list() }));
  app.get('/api/audit', async (c) => {
    // The filters of `airlock audit log`: --type (repeatable), --since, --target.
    const types = c.req.queries('type') ?? [];
    const bad = types.filter((t) => !isAuditEventType(t));
    if (bad.length > 0)
      return c.json(
        { error: `unknown event type ${bad.join(', ')}; types: ${AUDIT_EVENT_TYPES.join(', ')}` },
        400,
      );
    const since = c.req.query('since');
    const target = c.req.query('target');
    let filter: AuditFilter;
    try {
      filter = {
        ...(types.length > 0 ? { types: types.filter(isAuditEventType) } : {}),
        ...(since ? { since: parseSince(since, Date.now()) } : {}),
        ...(target ? { target } : {}),
      };
    } catch (err) {
      return c.json({ error: (err as Error).message }, 400);
    }
    return c.json(await dashboardAudit({ store, events, filter }));
  });
  app.get('/api/lineage', async (c) => {
    const subject = c.req.query('subject');
    const uses = c.req.query('uses');
    if (!subject && !uses)
      return c.json({ error: 'name a digest, env[/region] or a package' }, 400);
    return c.json(
      await runLineage({
        store,
        events,
        ...(subject ? { subject } : {}),
        ...(uses ? { uses } : {}),
      }),
    );
  });
  for (const panel of opts.panels ?? []) {
    const api = new Hono();
    panel.routes(api);
    app.route(`/api/${panel.id}`, api);
  }
  app.post('/api/actions/rollback', async (c) => {
    const actions = opts.actions;
    if (opts.allowActions !== true || !actions?.rollback)
      return c.json({ error: 'read-only dashboard: start `airlock ui --allow-actions`' }, 403);
    const body = await c.req.json<{ environment?: unknown; region?: unknown; reason?: unknown }>();
    if (typeof body.environment !== 'string' || body.environment === '')
      return c.json({ error: 'name the environment to roll back' }, 400);
    const result = await actions.rollback({
      environment: body.environment,
      ...(typeof body.region === 'string' && body.region !== '' ? { region: body.region } : {}),
      actor: DASHBOARD_ACTOR,
      reason: typeof body.reason === 'string' ? body.reason : 'rollback from the dashboard',
    });
    return c.json(result);
  });

  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      let changed = false;
      let wake: (() => void) | undefined;
      const notify = () => {
        changed = true;
        wake?.();
      };
      subscribers.add(notify);
      stream.onAbort(() => {
        subscribers.delete(notify);
        wake?.();
      });
      await stream.writeSSE({ event: 'ready', data: '{}' });
      while (!stream.aborted) {
        if (!changed)
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 15_000).unref();
          });
        wake = undefined;
        if (stream.aborted) break;
        await stream.writeSSE(
          changed ? { event: 'change', data: '{}' } : { event: 'ping', data: '{}' },
        );
        changed = false;
      }
    }),
  );

  app.onError((err, c) => {
    if (isAirlockError(err))
      return c.json(
        { error: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}) },
        err.code === 'REGISTRY_NOT_FOUND' ? 404 : 400,
      );
    events({ type: 'log', level: 'error', message: `dashboard: ${String(err)}` });
    return c.json({ error: 'internal error (a bug): see the airlock ui output' }, 500);
  });

  app.get('/vendor/:file', async (c, next) => {
    const file = vendor[c.req.param('file')];
    if (!file) return c.notFound();
    c.header('Cache-Control', 'max-age=3600');
    return serveStatic({ path: file })(c, next);
  });
  app.get('/ui/*', serveStatic({ root: CLIENT_DIR, rewriteRequestPath: (p) => p.slice(3) }));
  // Every other GET is a page of the app: the token in the query becomes the session cookie.
  app.get('*', (c: Context) => {
    const token = c.req.query('token');
    if (token !== undefined) {
      if (!tokenMatches(token, opts.token)) return c.text('wrong access token', 401);
      setCookie(c, COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
      return c.redirect(c.req.path, 303);
    }
    return c.html(html);
  });

  return { app, notifyChange: () => subscribers.forEach((s) => s()) };
}

/** Starts the dashboard; resolves once it listens. */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const token = opts.token ?? randomBytes(32).toString('base64url');
  const host = opts.host ?? '127.0.0.1';
  let origin = '';
  const { app, notifyChange } = dashboardApp({ ...opts, token }, () => origin);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: opts.port ?? 0 }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new AirlockError<DashboardErrorCode>(
          'UI_LISTEN_FAILED',
          `cannot listen on ${host}:${opts.port ?? 0}`,
          {
            hint: 'Pick another --port, or stop what already listens there.',
            details: { code: err.code },
          },
        ),
      ),
    );
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const store = opts.store ?? defaultStoreRoot();
  let seen = storeFingerprint(store);
  const poll = setInterval(() => {
    const now = storeFingerprint(store);
    if (now === seen) return;
    seen = now;
    notifyChange();
  }, opts.pollMs ?? 250);
  poll.unref();
  return {
    origin,
    url: `${origin}/?token=${token}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(poll);
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}
