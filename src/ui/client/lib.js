// Shared by the pages: the htm binding, API reads that follow live updates, small renderers.
import { h, createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

/** Bumped on every `change` event from the server: pages re-read their data. */
export const Revision = createContext(0);

/** Reads `path` from the API (nothing while it is null), again whenever the store changes; keeps the last data while reloading. */
export function useApi(path) {
  const revision = useContext(Revision);
  const [state, setState] = useState({ data: undefined, error: undefined });
  useEffect(() => {
    // No path yet: a request that waits for another one's answer.
    if (path === null) return undefined;
    let live = true;
    fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(async (r) => {
        const body = await r.json();
        if (!live) return;
        if (!r.ok) setState((s) => ({ data: s.data, error: body.error ?? r.statusText }));
        // `path`: which request the data answers (pages that change their query mark it).
        else setState({ data: body, error: undefined, path });
      })
      .catch((err) => live && setState((s) => ({ data: s.data, error: String(err) })));
    return () => {
      live = false;
    };
  }, [path, revision]);
  return state;
}

let marked = false;
/** Marks the first paint of real data (what the load benchmark measures). */
export function markFirstData() {
  if (marked) return;
  marked = true;
  requestAnimationFrame(() => performance.mark('airlock:first-data'));
}

/** Shows an API error, or "loading" before the first answer. */
export function Status({ state }) {
  if (state.error) return html`<p class="error" data-testid="error">${state.error}</p>`;
  if (state.data === undefined) return html`<p class="muted">loading…</p>`;
  return null;
}

export function Digest({ value }) {
  return value
    ? html`<code class="digest" title=${value}>${value}</code>`
    : html`<span class="muted">—</span>`;
}

export function time(ms) {
  return ms
    ? new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')
    : '—';
}
