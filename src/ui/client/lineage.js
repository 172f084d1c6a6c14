// Lineage: from an artifact or env[/region] back to keys, commits, packages and toolchains,
// or (--uses) every artifact and region containing a package; drawn with Cytoscape.
import { useLocation } from 'preact-iso/router';
import { GraphView } from './charts.js';
import { Status, html, markFirstData, useApi } from './lib.js';

const COLOR = {
  environment: '#1d2330',
  region: '#4a6fa5',
  artifact: '#1d2330',
  build: '#4a6fa5',
  signature: '#1f7a3a',
  key: '#6b3fa0',
  attestation: '#1f7a3a',
  source: '#8a5a00',
  commit: '#8a5a00',
  package: '#5b6577',
  toolchain: '#b3261e',
  target: '#4a6fa5',
};

function Graph({ query }) {
  const state = useApi(`/api/lineage?${query}`);
  const g = state.data;
  if (g) markFirstData();
  if (!g) return html`<${Status} state=${state} />`;
  const elements = [
    ...g.nodes.map((n) => ({
      data: { id: n.id, label: n.label, color: COLOR[n.kind] ?? '#5b6577' },
    })),
    ...g.edges.map((e, i) => ({
      data: { id: `e${i}`, source: e.from, target: e.to, label: e.label },
    })),
  ];
  return html`<${Status} state=${state} />
    <p class="muted">
      <span data-testid="node-count">${g.nodes.length}</span> nodes, ${g.edges.length} edges
    </p>
    <${GraphView} testid="lineage-graph" elements=${elements} />
    <table data-testid="lineage-nodes">
      <thead>
        <tr>
          <th>kind</th>
          <th>node</th>
        </tr>
      </thead>
      <tbody>
        ${g.nodes.map(
          (n) =>
            html`<tr>
              <td>${n.kind}</td>
              <td><code>${n.label}</code></td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

export function LineagePage() {
  const { query, route } = useLocation();
  const q = query.subject
    ? `subject=${encodeURIComponent(query.subject)}`
    : query.uses
      ? `uses=${encodeURIComponent(query.uses)}`
      : '';
  const submit = (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const kind = form.get('kind');
    route(`/lineage?${kind}=${encodeURIComponent(form.get('value'))}`);
  };
  return html`<h1>Lineage</h1>
    <form onSubmit=${submit}>
      <select name="kind" value=${query.uses ? 'uses' : 'subject'}>
        <option value="subject">of an artifact digest or env[/region]</option>
        <option value="uses">of what uses a package (purl or name@version)</option>
      </select>
      <input
        name="value"
        size="60"
        value=${query.subject ?? query.uses ?? ''}
        data-testid="lineage-input"
      />
      <button type="submit">Show</button>
    </form>
    ${q ? html`<${Graph} query=${q} />` : html`<p class="muted">Name an artifact, an environment or a package.</p>`}`;
}
