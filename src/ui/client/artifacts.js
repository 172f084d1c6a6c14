// Artifacts: the store's tagged artifacts, and one artifact with its evidence.
import { GraphView } from './charts.js';
import { Digest, Status, html, markFirstData, time, useApi } from './lib.js';

export function ArtifactsPage() {
  const state = useApi('/api/artifacts');
  const data = state.data;
  if (data) markFirstData();
  return html`<h1>Artifacts</h1>
    <${Status} state=${state} />
    ${
      data &&
      html`<p class="muted" data-testid="artifact-count">
          ${data.artifacts.length} artifacts in ${data.store}
        </p>
        <table data-testid="artifacts-table">
          <thead>
            <tr>
              <th>tag</th>
              <th>digest</th>
              <th>size</th>
              <th>evidence attached</th>
            </tr>
          </thead>
          <tbody>
            ${data.artifacts.map(
              (a) =>
                html`<tr>
                  <td><a href=${`/artifacts/${a.digest}`}>${a.tag}</a></td>
                  <td><${Digest} value=${a.digest} /></td>
                  <td>${a.size}</td>
                  <td>${a.attached ? 'yes' : html`<span class="muted">no</span>`}</td>
                </tr>`,
            )}
          </tbody>
        </table>`
    }`;
}

const SHORT = {
  'https://slsa.dev/provenance/v1': 'SLSA provenance',
  'https://cyclonedx.org/bom': 'CycloneDX SBOM',
  'https://spdx.dev/Document': 'SPDX SBOM',
  'https://airlock.dev/attestation/reproducibility/v1': 'reproducibility',
  'https://in-toto.io/attestation/test-result/v0.1': 'test result',
};
const short = (t) => SHORT[t] ?? t ?? 'attachment';

/** Artifact → builds (target, commit) and artifact → attachments → signing keys. */
function evidenceGraph(a) {
  const nodes = [
    { data: { id: a.digest, label: `artifact\n${a.digest.slice(7, 19)}`, color: '#1d2330' } },
  ];
  const edges = [];
  for (const b of a.builds) {
    const id = `build-${b.id}`;
    nodes.push({
      data: {
        id,
        label: `${b.target}${b.sourceCommit ? `@${b.sourceCommit.slice(0, 8)}` : ''}`,
        color: '#4a6fa5',
      },
    });
    edges.push({ data: { id: `${id}-e`, source: id, target: a.digest, label: 'built' } });
  }
  const keys = new Set();
  for (const x of a.attachments) {
    nodes.push({
      data: {
        id: x.digest,
        label: short(x.predicateType),
        color: x.signed ? '#1f7a3a' : '#8a5a00',
      },
    });
    edges.push({
      data: { id: `${x.digest}-e`, source: a.digest, target: x.digest, label: 'attached' },
    });
    if (x.keyId) {
      const key = `key-${x.keyId}`;
      if (!keys.has(key))
        nodes.push({ data: { id: key, label: `key ${x.keyId.slice(7, 19)}`, color: '#6b3fa0' } });
      keys.add(key);
      edges.push({
        data: { id: `${x.digest}-k`, source: x.digest, target: key, label: 'signed by' },
      });
    }
  }
  return [...nodes, ...edges];
}

export function ArtifactPage({ params }) {
  const ref = params.ref;
  const state = useApi(`/api/artifacts/${ref}`);
  const a = state.data;
  if (a) markFirstData();
  return html`<h1>Artifact</h1>
    <${Status} state=${state} />
    ${
      a &&
      html`<p>
          <${Digest} value=${a.digest} /> ${a.tags.map((t) => html` <code>${t}</code>`)}
          <a href=${`/lineage?subject=${a.digest}`} data-testid="lineage-link">lineage</a>
        </p>
        <h2>Hermeticity level</h2>
        ${
          a.level
            ? html`<p><span class="level" data-testid="level">${a.level.level}</span></p>
                <ul data-testid="level-reasons">
                  ${a.level.reasons.map((r) => html`<li>${r}</li>`)}
                </ul>`
            : html`<p class="muted" data-testid="level">
                no provenance attached: run \`airlock sign\`
              </p>`
        }
        <h2>Verification</h2>
        ${
          a.verification
            ? html`<p>
                  Policy <code>${a.verification.policy}</code>:
                  <span class=${a.verification.pass ? 'pass' : 'fail'} data-testid="verdict"
                    >${a.verification.pass ? 'PASS' : 'FAIL'}</span
                  >
                </p>
                <table data-testid="rules">
                  <thead>
                    <tr>
                      <th>rule</th>
                      <th>result</th>
                      <th>why</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${a.verification.rules.map(
                      (r) =>
                        html`<tr>
                          <td><code>${r.rule}</code></td>
                          <td class=${r.pass ? 'pass' : 'fail'}>${r.pass ? 'pass' : 'fail'}</td>
                          <td>${r.reason}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>`
            : html`<p class="muted" data-testid="verdict">
                not verified: start <code>airlock ui --policy FILE</code> to verify against a policy
              </p>`
        }
        <h2>Signatures and attestations</h2>
        <table data-testid="attachments">
          <thead>
            <tr>
              <th>statement</th>
              <th>signed</th>
              <th>key id</th>
              <th>attachment</th>
            </tr>
          </thead>
          <tbody>
            ${a.attachments.map(
              (x) =>
                html`<tr>
                  <td>${short(x.predicateType)}</td>
                  <td>${x.signed ? 'yes' : html`<span class="miss">no</span>`}</td>
                  <td><${Digest} value=${x.keyId} /></td>
                  <td>
                    <${Digest}
                      value=${x.digest}
                    />${x.unreadable ? html` <span class="fail">${x.unreadable}</span>` : null}
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
        <h2>Evidence graph</h2>
        <${GraphView} testid="evidence-graph" elements=${evidenceGraph(a)} />
        <h2>Builds</h2>
        <table data-testid="builds">
          <thead>
            <tr>
              <th>target</th>
              <th>when</th>
              <th>commit</th>
              <th>action key</th>
            </tr>
          </thead>
          <tbody>
            ${a.builds.map(
              (b) =>
                html`<tr>
                  <td>${b.target}</td>
                  <td>${time(b.createdAt)}</td>
                  <td><code>${b.sourceCommit ?? '—'}</code></td>
                  <td><${Digest} value=${b.key} /></td>
                </tr>`,
            )}
          </tbody>
        </table>
        <h2>SBOM components (${a.sbom ? a.sbom.components.length : 0})</h2>
        ${
          a.sbom
            ? html`<table data-testid="components">
                <thead>
                  <tr>
                    <th>name</th>
                    <th>version</th>
                    <th>type</th>
                    <th>purl</th>
                  </tr>
                </thead>
                <tbody>
                  ${a.sbom.components.map(
                    (c) =>
                      html`<tr>
                        <td>${c.name}</td>
                        <td>${c.version ?? ''}</td>
                        <td>${c.type ?? ''}</td>
                        <td><code>${c.purl ?? ''}</code></td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
            : html`<p class="muted">no CycloneDX SBOM attached</p>`
        }
        <h2>Provenance</h2>
        ${
          a.provenance
            ? html`<pre data-testid="provenance">${JSON.stringify(a.provenance, null, 2)}</pre>`
            : html`<p class="muted">no SLSA provenance attached</p>`
        } `
    }`;
}
