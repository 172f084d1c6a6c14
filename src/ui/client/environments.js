// Environments: what runs in each region, its weights and drift, every rollout gate over
// time as a chart, the rollbacks with who and why; rollback only with --allow-actions.
import { useRef, useState } from 'preact/hooks';
import { ChartView } from './charts.js';
import { Digest, Status, html, markFirstData, time, useApi } from './lib.js';

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

const COLORS = ['#4a6fa5', '#b3261e', '#1f7a3a', '#8a5a00', '#6b3fa0'];

/** One line chart per gate: its value at each rollout step against its threshold. */
function GateCharts({ gates }) {
  const names = [...new Set(gates.map((g) => g.name))];
  return names.map((name) => {
    const points = gates.filter((g) => g.name === name);
    const labels = points.map((p) => `${p.region ?? ''} ${p.step}% ${time(p.time).slice(11, 19)}`);
    return html`<h3>${name}</h3>
      <${ChartView}
        testid=${`gate-${name}`}
        config=${{
          type: 'line',
          data: {
            labels,
            datasets: [
              {
                label: 'value',
                data: points.map((p) => p.value),
                borderColor: COLORS[0],
                pointBackgroundColor: points.map((p) => (p.pass ? COLORS[2] : COLORS[1])),
              },
              {
                label: 'threshold',
                data: points.map((p) => p.threshold),
                borderColor: COLORS[1],
                borderDash: [6, 4],
                pointRadius: 0,
              },
            ],
          },
        }}
      />
      <table data-testid=${`gate-table-${name}`}>
        <thead>
          <tr>
            <th>when</th>
            <th>region</th>
            <th>step</th>
            <th>value</th>
            <th>threshold</th>
            <th>result</th>
            <th>decision</th>
          </tr>
        </thead>
        <tbody>
          ${points.map(
            (p) =>
              html`<tr>
                <td>${time(p.time)}</td>
                <td>${p.region ?? ''}</td>
                <td>${p.step}%</td>
                <td>${p.value ?? 'no data'}</td>
                <td>${p.threshold}</td>
                <td class=${p.pass ? 'pass' : 'fail'}>${p.pass ? 'pass' : 'fail'}</td>
                <td>${p.decision}</td>
              </tr>`,
          )}
        </tbody>
      </table>`;
  });
}

export function EnvironmentsPage({ session }) {
  const state = useApi('/api/environments');
  const data = state.data;
  if (data) markFirstData();
  return html`<h1>Environments</h1>
    <${Status} state=${state} />
    ${
      data && data.environments.length === 0
        ? html`<p class="muted" data-testid="no-environments">
            No deploy recorded in the audit log yet.
          </p>`
        : null
    }
    ${data?.environments.map(
      (e) =>
        html`<section data-testid=${`env-${e.name}`}>
          <h2>${e.name}</h2>
          <table data-testid="regions">
            <thead>
              <tr>
                <th>region</th>
                <th>running</th>
                <th>weights</th>
                <th>drift</th>
              </tr>
            </thead>
            <tbody>
              ${e.regions.map(
                (r) =>
                  html`<tr data-testid=${`region-${r.name}`}>
                    <td>${r.name}</td>
                    <td data-testid="running">
                      ${r.running.map(
                        (d) =>
                          html`<div>
                            <a href=${`/artifacts/${d}`}><${Digest} value=${d} /></a>
                          </div>`,
                      )}
                    </td>
                    <td data-testid="weights">
                      ${r.weights ? Object.entries(r.weights).map(([d, w]) => html`<div><code>${d.slice(0, 19)}</code>: ${w}%</div>`) : '—'}
                    </td>
                    <td class=${r.drift ? 'fail' : ''} data-testid="drift">
                      ${r.drift ? `expected ${r.drift.expected.slice(0, 19)}, running ${r.drift.running.map((x) => x.slice(0, 19)).join(', ') || 'nothing'}` : 'none'}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${session.actions.rollback ? html`<${Rollback} environment=${e.name} />` : null}
          ${
            e.gates.length > 0
              ? html`<h2>Rollout gates over time</h2>
                  <${GateCharts} gates=${e.gates} />`
              : null
          }
          ${
            e.rollbacks.length > 0
              ? html`<h2>Rollbacks</h2>
                  <ul data-testid="rollbacks">
                    ${e.rollbacks.map(
                      (r) =>
                        html`<li>
                          ${time(r.time)} ${r.region ?? ''}:
                          ${r.automatic ? 'automatic' : `by ${r.by ?? r.actor}`} — ${r.reason}
                        </li>`,
                    )}
                  </ul>`
              : null
          }
        </section>`,
    )}`;
}
