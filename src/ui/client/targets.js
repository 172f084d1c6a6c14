// Targets: each one's last recorded build and whether its next build hits the cache, and why not.
import { ChartView } from './charts.js';
import { Digest, Status, html, markFirstData, time, useApi } from './lib.js';

function Why({ why }) {
  if (why.verdict === 'hit')
    return html`<span class="hit" data-testid="verdict">hit</span
      >${why.origin ? html` <span class="muted">${why.origin.text}</span>` : null}`;
  return html`<span class="miss" data-testid="verdict">${why.verdict}</span>
    <ul data-testid="changes">
      ${why.changes.map((c) => html`<li><code>${c.component}</code> ${c.detail}</li>`)}
    </ul>`;
}

export function TargetsPage() {
  const state = useApi('/api/targets');
  // Hashing every input takes longer: the verdicts are asked for once the targets are
  // shown, so that work does not hold up the first page's answer on the same server.
  const whys = useApi(state.data ? '/api/targets/why' : null);
  const why = new Map((whys.data?.targets ?? []).map((t) => [t.name, t.why]));
  const data = state.data;
  if (data) markFirstData();
  const built = data?.targets.filter((t) => t.last?.durationMs !== undefined) ?? [];
  return html`<h1>Targets${data?.project ? html` of <code>${data.project}</code>` : null}</h1>
    <${Status} state=${state} />
    ${
      data && data.targets.length === 0
        ? html`<p class="muted">No airlock.yaml in ${data.root}: no targets to show.</p>`
        : null
    }
    ${
      data && data.targets.length > 0
        ? html`<table data-testid="targets-table">
            <thead>
              <tr>
                <th>target</th>
                <th>last run</th>
                <th>last build</th>
                <th>build time</th>
                <th>artifact</th>
                <th>commit</th>
                <th>next build (why)</th>
              </tr>
            </thead>
            <tbody>
              ${data.targets.map(
                (t) =>
                  html`<tr data-testid=${`target-${t.name}`}>
                    <td><strong>${t.name}</strong></td>
                    <td data-testid="last-run">
                      ${
                        t.lastRun
                          ? html`<span class=${t.lastRun.cache}>${t.lastRun.cache}</span
                              ><span class="muted">
                                ${t.lastRun.finishedAt - t.lastRun.startedAt} ms</span
                              >`
                          : '—'
                      }
                    </td>
                    <td data-testid="built-at">${time(t.last?.createdAt)}</td>
                    <td data-testid="duration">
                      ${t.last?.durationMs !== undefined ? `${t.last.durationMs} ms` : '—'}
                    </td>
                    <td data-testid="artifact">
                      ${
                        t.last?.artifact
                          ? html`<a href=${`/artifacts/${t.last.artifact}`}
                              ><${Digest} value=${t.last.artifact}
                            /></a>`
                          : html`<span class="muted">—</span>`
                      }
                    </td>
                    <td><code>${t.last?.sourceCommit?.slice(0, 12) ?? '—'}</code></td>
                    <td>
                      ${
                        why.has(t.name)
                          ? html`<${Why} why=${why.get(t.name)} />`
                          : html`<span class="muted" data-testid="verdict-pending"
                              >${whys.error ?? 'checking…'}</span
                            >`
                      }
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : null
    }
    ${
      built.length > 0
        ? html`<h2>Build time of each target's last build</h2>
            <${ChartView}
              testid="duration-chart"
              config=${{
                type: 'bar',
                data: {
                  labels: built.map((t) => t.name),
                  datasets: [
                    {
                      label: 'ms',
                      data: built.map((t) => t.last.durationMs),
                      backgroundColor: '#4a6fa5',
                    },
                  ],
                },
                options: { plugins: { legend: { display: false } } },
              }}
            />`
        : null
    }`;
}
