// Environments: what runs in each region, its traffic weight and drift; rollback only with --allow-actions.
import { useRef, useState } from 'preact/hooks';
import { Digest, Status, html, markFirstData, useApi } from './lib.js';

/** The rollback button and its confirmation dialog (the only action the dashboard takes). */
function Rollback({ environment }) {
  const dialog = useRef(null);
  const reason = useRef(null);
  const [result, setResult] = useState(undefined);
  const confirm = async () => {
    const r = await fetch('/api/actions/rollback', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ environment, reason: reason.current.value }),
    });
    const body = await r.json();
    setResult(r.ok ? body.message : `refused: ${body.error}`);
    dialog.current.close();
  };
  return html`<button
      class="danger"
      data-testid="rollback"
      onClick=${() => dialog.current.showModal()}
    >
      Roll back
    </button>
    <dialog ref=${dialog} data-testid="rollback-dialog">
      <p>Roll back <strong>${environment}</strong> to its previous release?</p>
      <p>
        <label>Why: <input ref=${reason} data-testid="rollback-reason" /></label>
      </p>
      <button data-testid="rollback-cancel" onClick=${() => dialog.current.close()}>Cancel</button>
      <button class="danger" data-testid="rollback-confirm" onClick=${confirm}>Roll back</button>
    </dialog>
    ${result ? html`<p data-testid="rollback-result">${result}</p>` : null}`;
}

export function EnvironmentsPage({ session }) {
  const state = useApi('/api/environments');
  const data = state.data;
  if (data) markFirstData();
  return html`<h1>Environments</h1>
    <${Status} state=${state} />
    ${data?.environments.map(
      (e) =>
        html`<section data-testid=${`env-${e.name}`}>
          <h2>${e.name}</h2>
          <table>
            <thead>
              <tr>
                <th>region</th>
                <th>running</th>
                <th>weight</th>
                <th>drift</th>
              </tr>
            </thead>
            <tbody>
              ${e.regions.map(
                (r) =>
                  html`<tr>
                    <td>${r.name}</td>
                    <td><${Digest} value=${r.digest} /></td>
                    <td>${r.weight !== undefined ? `${r.weight}%` : '—'}</td>
                    <td class=${r.drift ? 'fail' : ''}>${r.drift ?? 'none'}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${session.actions.rollback ? html`<${Rollback} environment=${e.name} />` : null}
        </section>`,
    )}`;
}
