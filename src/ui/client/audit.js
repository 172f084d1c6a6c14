// The audit log: the newest entries and whether the whole hash chain verifies.
import { useState } from 'preact/hooks';
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

/** The filters of `airlock audit log`: --type, --since, --target. */
function Filter({ types, onApply }) {
  const submit = (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    onApply({
      type: String(f.get('type') ?? ''),
      since: String(f.get('since') ?? '').trim(),
      target: String(f.get('target') ?? '').trim(),
    });
  };
  return html`<form class="filter" data-testid="audit-filter" onSubmit=${submit}>
    <label
      >type
      <select name="type" data-testid="filter-type">
        <option value="">any</option>
        ${types.map((t) => html`<option value=${t}>${t}</option>`)}
      </select></label
    >
    <label
      >since <input name="since" placeholder="7d, 12h or 2026-11-29" data-testid="filter-since"
    /></label>
    <label>target <input name="target" data-testid="filter-target" /></label>
    <button type="submit" data-testid="filter-apply">Filter</button>
  </form>`;
}

/** The signed checkpoints `audit verify` found, and how much of the tail none covers. */
function Checkpoints({ verify }) {
  const tail = verify.tail;
  return html`<h2>Checkpoints</h2>
    ${
      verify.checkpoints.length === 0
        ? html`<p class="muted" data-testid="no-checkpoints">No signed checkpoint.</p>`
        : html`<table data-testid="checkpoints">
            <thead>
              <tr>
                <th>entry covered</th>
                <th>signed</th>
                <th>key id</th>
                <th>signature</th>
                <th>log extends it</th>
                <th>kept in</th>
              </tr>
            </thead>
            <tbody>
              ${verify.checkpoints.map(
                (c) =>
                  html`<tr>
                    <td>${c.seq}</td>
                    <td>${time(c.time)}</td>
                    <td><code>${c.keyId ?? c.keyHint ?? '—'}</code></td>
                    <td
                      class=${c.signature === 'verified' ? 'pass' : c.signature === 'unchecked' ? 'muted' : 'fail'}
                    >
                      ${c.signature}
                    </td>
                    <td class=${c.consistent ? 'pass' : 'fail'}>${c.consistent ? 'yes' : 'NO'}</td>
                    <td>${c.source}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    <p data-testid="tail" class=${tail.unprotected > 0 ? 'fail' : 'pass'}>
      ${
        tail.unprotected === 0
          ? 'Every entry is covered by a signed checkpoint.'
          : tail.checkpointed === 0
            ? `No checkpoint: entries 1–${verify.head.seq} are unprotected against a cut-off or rewrite.`
            : `No checkpoint since entry ${tail.checkpointed}: entries ${tail.checkpointed + 1}–${verify.head.seq} are unprotected against a cut-off or rewrite.`
      }
    </p>`;
}

export function AuditPage() {
  const [filter, setFilter] = useState({ type: '', since: '', target: '' });
  const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== '')).toString();
  const state = useApi(`/api/audit${query ? `?${query}` : ''}`);
  const data = state.data;
  if (data) markFirstData();
  return html`<h1>Audit log</h1>
    ${data && html`<${Filter} types=${data.types} onApply=${setFilter} />`}
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
        <${Checkpoints} verify=${data.verify} />
        <h2>Entries</h2>
        <p class="muted">
          ${`The newest ${data.entries.length} of `}<span data-testid="match-count"
            >${data.total}</span
          >${` entries${query ? ' matching the filter' : ''}.`}
        </p>
        <table data-testid="audit-table" data-path=${state.path}>
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
