import { compareBytes } from '../core/compare.js';

/*
 * The lineage graph as data: what `airlock lineage` prints (text tree, JSON,
 * Graphviz DOT) and what the dashboard draws. Nodes are named by a stable id
 * (`artifact:sha256:…`, `commit:<sha>`, `key:sha256:…`, `pkg:npm/ms@2.1.3`);
 * edges point from a thing to what it came from (or, for `--uses`, from a
 * package to what contains it).
 */

export type LineageKind =
  | 'environment'
  | 'region'
  | 'artifact'
  | 'build'
  | 'signature'
  | 'key'
  | 'attestation'
  | 'source'
  | 'commit'
  | 'package'
  | 'toolchain'
  | 'target';

export interface LineageNode {
  id: string;
  kind: LineageKind;
  label: string;
  /** Facts shown beside the label (digests, versions, times…). */
  data?: Record<string, unknown>;
}

export interface LineageEdge {
  from: string;
  to: string;
  /** What the edge means: `built by`, `signed by`, `from commit`, `locks`, `depends on`… */
  label: string;
}

export interface LineageGraph {
  /** What was asked about: the nodes the tree starts from. */
  roots: string[];
  nodes: LineageNode[];
  edges: LineageEdge[];
}

/** Builds a graph; adding a node or edge twice keeps one. */
export class LineageBuilder {
  private readonly nodes = new Map<string, LineageNode>();
  private readonly edges = new Map<string, LineageEdge>();
  private readonly roots: string[] = [];

  has(id: string): boolean {
    return this.nodes.has(id);
  }

  node(n: LineageNode): string {
    const old = this.nodes.get(n.id);
    if (!old) this.nodes.set(n.id, n);
    else if (n.data) old.data = { ...n.data, ...old.data };
    return n.id;
  }

  edge(from: string, to: string, label: string): void {
    this.edges.set(`${from}\0${to}\0${label}`, { from, to, label });
  }

  root(id: string): void {
    if (!this.roots.includes(id)) this.roots.push(id);
  }

  /** The graph, nodes and edges in byte order of their ids (deterministic output). */
  build(): LineageGraph {
    return {
      roots: [...this.roots],
      nodes: [...this.nodes.values()].sort((a, b) => compareBytes(a.id, b.id)),
      edges: [...this.edges.values()].sort(
        (a, b) => compareBytes(a.from, b.from) || compareBytes(a.to, b.to),
      ),
    };
  }
}

function describe(n: LineageNode): string {
  const facts = Object.entries(n.data ?? {})
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return facts.length > 0 ? `${n.label} (${facts.join(', ')})` : n.label;
}

/**
 * The graph as an indented tree from its roots; a node reached a second
 * time is printed once more with "(see above)" and not expanded again.
 */
export function lineageText(graph: LineageGraph): string {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const out = new Map<string, LineageEdge[]>();
  for (const e of graph.edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const lines: string[] = [];
  const shown = new Set<string>();
  const walk = (id: string, prefix: string, childPrefix: string, via?: string): void => {
    const n = byId.get(id);
    const label = n ? `${n.kind} ${describe(n)}` : id;
    const again = shown.has(id);
    lines.push(`${prefix}${via ? `${via}: ` : ''}${label}${again ? ' (see above)' : ''}`);
    if (again) return;
    shown.add(id);
    const kids = out.get(id) ?? [];
    kids.forEach((e, i) => {
      const last = i === kids.length - 1;
      walk(
        e.to,
        `${childPrefix}${last ? '└─ ' : '├─ '}`,
        `${childPrefix}${last ? '   ' : '│  '}`,
        e.label,
      );
    });
  };
  for (const r of graph.roots) walk(r, '', '');
  return `${lines.join('\n')}\n`;
}

const dotId = (s: string): string => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

const SHAPES: Record<LineageKind, string> = {
  environment: 'house',
  region: 'house',
  artifact: 'box3d',
  build: 'box',
  signature: 'note',
  key: 'diamond',
  attestation: 'note',
  source: 'folder',
  commit: 'cds',
  package: 'component',
  toolchain: 'hexagon',
  target: 'box',
};

/** The graph in Graphviz DOT. */
export function lineageDot(graph: LineageGraph): string {
  const lines = ['digraph lineage {', '  rankdir=LR;', '  node [fontname="monospace"];'];
  for (const n of graph.nodes)
    lines.push(
      `  ${dotId(n.id)} [label=${dotId(`${n.kind}\n${n.label}`)}, shape=${SHAPES[n.kind]}];`,
    );
  for (const e of graph.edges)
    lines.push(`  ${dotId(e.from)} -> ${dotId(e.to)} [label=${dotId(e.label)}];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** The purl of an npm package (as the SBOMs write it): `pkg:npm/ms@2.1.3`, `pkg:npm/%40scope/name@1.0.0`. */
export function npmPurl(name: string, version: string): string {
  const [scope, pkg] = name.startsWith('@') ? name.split('/', 2) : [undefined, name];
  const enc = (s: string): string => encodeURIComponent(s);
  return `pkg:npm/${scope ? `${enc(scope)}/` : ''}${enc(pkg ?? name)}@${enc(version)}`;
}

/** The purl of a locked input (npm packages as npm purls, anything else as generic). */
export function lockedPurl(l: { kind: string; name: string; version: string }): string {
  return l.kind === 'npm'
    ? npmPurl(l.name, l.version)
    : `pkg:generic/${encodeURIComponent(l.name)}@${encodeURIComponent(l.version)}`;
}

/**
 * What `lineage --uses` looks for: a purl (`pkg:npm/ms@2.1.3`), or
 * `name@version` / `@scope/name@version` read as npm; without a version,
 * a prefix matching every version. Undefined when it is neither.
 */
export function parsePackageQuery(query: string): { purl: string; exact: boolean } | undefined {
  if (query.startsWith('pkg:')) {
    // Qualifiers and subpath (`?arch=amd64`, `#…`) are not part of what the index holds.
    query = query.replace(/[?#].*$/, '');
    const at = query.lastIndexOf('@');
    const exact = at > query.indexOf('/');
    return { purl: exact ? query : `${query}@`, exact };
  }
  const m = /^(@[a-z0-9][\w.-]*\/[\w.-]+|[a-z0-9][\w.-]*)(?:@(.+))?$/i.exec(query);
  if (!m) return undefined;
  return m[2] !== undefined
    ? { purl: npmPurl(m[1]!, m[2]), exact: true }
    : { purl: `${npmPurl(m[1]!, '')}`, exact: false };
}
