// The dashboard's pages: Preact components written with htm, routed by preact-iso.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { LocationProvider, Router, Route, useLocation } from 'preact-iso/router';
import { TargetsPage } from './targets.js';
import { ArtifactsPage, ArtifactPage } from './artifacts.js';
import { EnvironmentsPage } from './environments.js';
import { AuditPage } from './audit.js';
import { LineagePage } from './lineage.js';
import { html, Revision, Status, useApi } from './lib.js';

/** A page that a plugged-in panel provides but this version of the pages does not draw. */
function PanelData({ id }) {
  const state = useApi(`/api/${id}`);
  return html`<h1>${id}</h1>
    <${Status} state=${state} />
    ${state.data && html`<pre>${JSON.stringify(state.data, null, 2)}</pre>`}`;
}

const PAGES = {
  targets: '/',
  artifacts: '/artifacts',
  lineage: '/lineage',
  environments: '/environments',
  audit: '/audit',
};

function Nav({ session, live }) {
  const { path } = useLocation();
  return html`<header>
    <strong>Airlock</strong>
    ${session.panels.map((p) => {
      const href = PAGES[p.id] ?? `/${p.id}`;
      const current = href === '/' ? path === '/' : path.startsWith(href);
      return html`<a href=${href} aria-current=${current ? 'page' : undefined}>${p.title}</a>`;
    })}
    <span class="live" data-testid="live">${live ? 'live' : 'connecting…'}</span>
  </header>`;
}

function App() {
  const [revision, setRevision] = useState(0);
  const [live, setLive] = useState(false);
  const [session, setSession] = useState(undefined);
  const [error, setError] = useState(undefined);
  useEffect(() => {
    fetch('/api/session', { credentials: 'same-origin' }).then(async (r) => {
      const body = await r.json();
      if (r.ok) setSession(body);
      else setError(body.error);
    });
  }, []);
  useEffect(() => {
    if (!session) return undefined;
    const source = new EventSource('/api/events');
    source.addEventListener('ready', () => setLive(true));
    source.addEventListener('change', () =>
      setRevision((n) => {
        // Lets a watcher (and the browser test) see that a live update arrived.
        document.body.dataset.revision = String(n + 1);
        return n + 1;
      }),
    );
    source.onerror = () => setLive(false);
    return () => source.close();
  }, [session]);
  if (error) return html`<main><p class="error" data-testid="error">${error}</p></main>`;
  if (!session) return html`<main><p class="muted">loading…</p></main>`;
  const known = new Set(Object.keys(PAGES));
  return html`<${Revision.Provider} value=${revision}>
    <${LocationProvider}>
      <${Nav} session=${session} live=${live} />
      <main>
        <${Router}>
          <${Route} path="/" component=${TargetsPage} />
          <${Route} path="/artifacts" component=${ArtifactsPage} />
          <${Route} path="/artifacts/:ref" component=${ArtifactPage} session=${session} />
          <${Route} path="/environments" component=${EnvironmentsPage} session=${session} />
          <${Route} path="/lineage" component=${LineagePage} />
          <${Route} path="/audit" component=${AuditPage} />
          ${session.panels
            .filter((p) => !known.has(p.id))
            .map((p) => html`<${Route} path=${`/${p.id}`} component=${PanelData} id=${p.id} />`)}
          <${Route} default component=${() => html`<h1>Not found</h1>`} />
        <//>
      </main>
    <//>
  <//>`;
}

document.body.dataset.revision = '0';
render(html`<${App} />`, document.getElementById('app'));
