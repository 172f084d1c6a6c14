// The audit log: the newest entries and whether the whole hash chain verifies.
import { Status, html, markFirstData, time, useApi } from './lib.js';

/** The event in one line: its subject fields, without the long lists. */
function summary(entry) {
  const d = entry.data;
  const parts = [];
  for (const k of [
    'target',
    'environment',
    'region',
    'cache',
    'decision',
    'reason',
    'registry',
    'keyId',
    'pass',
  ]) {
    if (d[k] !== undefined) parts.push(`${k}=${d[k]}`);
  }
  const digest = d.artifact ?? d.digest ?? d.to;
  if (digest) parts.push(`${String(digest).slice(0, 19)}…`);
  return parts.join(' ');
}

export function AuditPage() {
  const state = useApi('/api/audit');
  const data = state.data;
  if (data) markFirstData();
  return html`<h1>Audit log</h1>
    <${Status} state=${state} />
    ${
      data &&
      html`<p data-testid="chain">
          Chain of <strong data-testid="entry-count">${data.verify.entries}</strong> entries:
          <span class=${data.verify.ok ? 'pass' : 'fail'} data-testid="chain-status"
            >${data.verify.ok ? 'verified' : 'BROKEN'}</span
          >
          ${data.verify.head.hash ? html` (head <code>${data.verify.head.hash}</code>)` : null}
        </p>
        ${
          data.verify.problems.length > 0
            ? html`<ul data-testid="chain-problems">
                ${data.verify.problems.map((p) => html`<li class="fail">${JSON.stringify(p)}</li>`)}
              </ul>`
            : null
        }
        <p class="muted">The newest ${data.entries.length} of ${data.total} entries.</p>
        <table data-testid="audit-table">
          <thead>
            <tr>
              <th>seq</th>
              <th>when</th>
              <th>type</th>
              <th>who</th>
              <th>what</th>
            </tr>
          </thead>
          <tbody>
            ${data.entries.map(
              (r) =>
                html`<tr>
                  <td>${r.seq}</td>
                  <td>${time(r.entry.time)}</td>
                  <td><code>${r.entry.type}</code></td>
                  <td>
                    ${r.entry.actor.user}@${r.entry.actor.host}${r.entry.actor.via ? ` via ${r.entry.actor.via}` : ''}
                  </td>
                  <td>${summary(r.entry)}</td>
                </tr>`,
            )}
          </tbody>
        </table>`
    }`;
}
