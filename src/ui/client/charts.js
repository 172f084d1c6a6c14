// Charts through Chart.js and graphs through Cytoscape, each loaded on first use
// so the first paint of a page does not wait for them.
import { useEffect, useRef } from 'preact/hooks';
import { html } from './lib.js';

let chartJs;
function loadChart() {
  // The UMD build sets globalThis.Chart when imported as a module.
  chartJs ??= import('/vendor/chart.umd.min.js').then(() => globalThis.Chart);
  return chartJs;
}

/** A Chart.js chart of `config` (type, data, options); redrawn when `config` changes. */
export function ChartView({ config, testid }) {
  const canvas = useRef(null);
  useEffect(() => {
    let chart;
    let live = true;
    loadChart().then((Chart) => {
      if (!live || !canvas.current) return;
      chart = new Chart(canvas.current, {
        ...config,
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          ...config.options,
        },
      });
      canvas.current.dataset.ready = 'true';
    });
    return () => {
      live = false;
      chart?.destroy();
    };
  }, [JSON.stringify(config)]);
  return html`<div class="chart"><canvas ref=${canvas} data-testid=${testid}></canvas></div>`;
}

/** A Cytoscape graph of `elements` ({data:{id,label}} nodes and {data:{source,target}} edges). */
export function GraphView({ elements, testid }) {
  const box = useRef(null);
  useEffect(() => {
    let cy;
    let live = true;
    import('/vendor/cytoscape.esm.min.mjs').then(({ default: cytoscape }) => {
      if (!live || !box.current) return;
      cy = cytoscape({
        container: box.current,
        elements,
        layout: { name: 'breadthfirst', directed: true, spacingFactor: 1.1 },
        style: [
          {
            selector: 'node',
            style: {
              label: 'data(label)',
              'font-size': 10,
              'text-wrap': 'wrap',
              'text-max-width': 160,
              'background-color': 'data(color)',
              width: 18,
              height: 18,
            },
          },
          {
            selector: 'edge',
            style: {
              width: 1.5,
              'curve-style': 'bezier',
              'target-arrow-shape': 'triangle',
              label: 'data(label)',
              'font-size': 8,
            },
          },
        ],
      });
      box.current.dataset.nodes = String(cy.nodes().length);
    });
    return () => {
      live = false;
      cy?.destroy();
    };
  }, [JSON.stringify(elements)]);
  return html`<div class="graph" ref=${box} data-testid=${testid}></div>`;
}
