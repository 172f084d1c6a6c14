import {
  LineageBuilder,
  parsePackageQuery,
  type AuditErrorCode,
  type AuditEntry,
  type AuditLog,
  type LineageGraph,
} from '../audit/index.js';
import { PREDICATE, parseStatement } from '../attest/index.js';
import type { BuildRecord } from '../builder/action.js';
import { AirlockError } from '../core/errors.js';
import { isDigest, type Digest } from '../core/digest.js';
import { parseManifest } from '../oci/index.js';
import { parseBundle } from '../sign/index.js';
import type { Store } from '../store/index.js';
import { PREDICATE_TYPE_ANNOTATION, bundleAttachments } from './attestations.js';
import { openAuditLog, type AuditStoreOptions } from './audit.js';
import { Store as StoreClass, defaultStoreRoot } from '../store/index.js';
import { npmPurl } from '../audit/index.js';

/*
 * Lineage: from a running deployment or an artifact back to everything it
 * came from, and from a package forward to every artifact and deployment
 * that contains it. Read from the audit log (build, signature, deploy
 * events), the build records its build events name, and the store's
 * referrers (signature bundles); the result is a graph (audit/lineage.ts).
 */

/** One deployment: which digest runs where. */
export interface RunningDeployment {
  environment: string;
  region?: string;
  artifact: string;
}

/**
 * Where deployments come from: one method, so the deploy stage can offer
 * its own records. The default reads the audit log's deploy events.
 */
export interface DeploymentSource {
  running(): RunningDeployment[] | Promise<RunningDeployment[]>;
}

/**
 * What runs where, according to the audit log: per environment and region,
 * the latest promotion (its artifact), rollback (its `to`) or rollout step
 * (every digest with weight above 0, else its artifact).
 */
export function auditDeployments(log: AuditLog): DeploymentSource {
  return {
    running(): RunningDeployment[] {
      const latest = new Map<string, AuditEntry>();
      for (const r of log.list({ types: ['deploy.promotion', 'deploy.rollback', 'deploy.step'] })) {
        const d = r.entry.data as { environment: string; region?: string };
        latest.set(`${d.environment}\0${d.region ?? ''}`, r.entry);
      }
      const out: RunningDeployment[] = [];
      for (const e of latest.values()) {
        const place = {
          environment: (e.data as { environment: string }).environment,
          ...((e.data as { region?: string }).region !== undefined
            ? { region: (e.data as { region: string }).region }
            : {}),
        };
        const digests =
          e.type === 'deploy.promotion'
            ? [e.data.artifact]
            : e.type === 'deploy.rollback'
              ? [e.data.to]
              : e.type === 'deploy.step'
                ? (() => {
                    const w = Object.entries(e.data.weights)
                      .filter(([k, v]) => v > 0 && isDigest(k))
                      .map(([k]) => k);
                    return w.length > 0 ? w : [e.data.artifact];
                  })()
                : [];
        for (const artifact of digests) out.push({ ...place, artifact });
      }
      return out;
    },
  };
}

export interface LineageRequest extends AuditStoreOptions {
  /** An artifact digest, or `env` / `env/region`. */
  subject?: string;
  /** A purl or `package@version` (`--uses`). */
  uses?: string;
  /** Where deployments come from (default: the audit log's deploy events). */
  deployments?: DeploymentSource;
}

const placeId = (d: { environment: string; region?: string }): string =>
  d.region !== undefined ? `region:${d.environment}/${d.region}` : `environment:${d.environment}`;

/** Reads the store and log into a lineage graph. */
class LineageReader {
  readonly g = new LineageBuilder();
  private readonly expanded = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly log: AuditLog,
    private readonly running: RunningDeployment[],
  ) {}

  private latestBuild(digest: string): AuditEntry | undefined {
    const builds = this.log.list({ subject: digest, types: ['build'] });
    for (let i = builds.length - 1; i >= 0; i--) {
      const e = builds[i]!.entry;
      if (e.type === 'build' && (e.data.artifact === digest || e.data.outputTree === digest))
        return e;
    }
    return undefined;
  }

  /** The artifact node of `digest`, labelled with its tag when a build of it is known. */
  artifactNode(digest: string): string {
    const b = this.latestBuild(digest);
    const tag = b?.type === 'build' ? b.data.tag : undefined;
    return this.g.node({
      id: `artifact:${digest}`,
      kind: 'artifact',
      label: tag ? `${tag}@${digest}` : digest,
      data: { digest },
    });
  }

  /** Adds the deployments running `digest`, as region → artifact edges. */
  deploymentsOf(digest: string, root: boolean): void {
    for (const d of this.running.filter((r) => r.artifact === digest)) {
      const id = this.placeNode(d);
      this.g.edge(id, `artifact:${digest}`, 'runs');
      if (root) this.g.root(id);
    }
  }

  placeNode(d: { environment: string; region?: string }): string {
    const envId = this.g.node({
      id: `environment:${d.environment}`,
      kind: 'environment',
      label: d.environment,
    });
    if (d.region === undefined) return envId;
    const id = this.g.node({
      id: placeId(d),
      kind: 'region',
      label: `${d.environment}/${d.region}`,
    });
    this.g.edge(envId, id, 'region');
    return id;
  }

  /** Everything `digest` came from, recursively through its dependency targets. */
  async expand(digest: string): Promise<string> {
    const id = this.artifactNode(digest);
    if (this.expanded.has(id)) return id;
    this.expanded.add(id);
    await this.signatures(digest, id);
    const b = this.latestBuild(digest);
    if (b?.type !== 'build') return id;
    const data = b.data;
    const buildId = this.g.node({
      id: `build:${data.actionKey}`,
      kind: 'build',
      label: `${data.project}/${data.target}`,
      data: {
        actionKey: data.actionKey,
        cache: data.cache,
        by: `${b.actor.user}@${b.actor.host}`,
        at: new Date(data.finishedAt).toISOString(),
        sourceDateEpoch: data.sourceDateEpoch,
      },
    });
    this.g.edge(id, buildId, 'built by');
    if (data.sourceCommit) {
      const c = this.g.node({
        id: `commit:${data.sourceCommit}`,
        kind: 'commit',
        label: data.sourceCommit,
        data: { dirty: data.dirty },
      });
      this.g.edge(buildId, c, 'from commit');
      if (data.repository) {
        const s = this.g.node({
          id: `source:${data.repository}`,
          kind: 'source',
          label: data.repository,
        });
        this.g.edge(c, s, 'in repository');
      }
    }
    for (const t of data.toolchain) {
      const n = this.g.node({
        id: `toolchain:${t.name}@${t.digest}`,
        kind: 'toolchain',
        label: t.name,
        data: { digest: t.digest },
      });
      this.g.edge(buildId, n, 'toolchain');
    }
    const record = data.record
      ? await this.store.getJson<BuildRecord>(data.record as Digest).catch(() => undefined)
      : undefined;
    if (!record) return id;
    for (const l of record.action.locked ?? []) {
      const purl =
        l.kind === 'npm'
          ? npmPurl(l.name, l.version)
          : `pkg:generic/${encodeURIComponent(l.name)}@${l.version}`;
      const n = this.g.node({
        id: purl,
        kind: 'package',
        label: `${l.name}@${l.version}`,
        data: { integrity: l.digest },
      });
      this.g.edge(buildId, n, 'locks');
    }
    for (const d of record.action.deps) {
      const dep = this.latestBuild(d.outputs);
      if (dep?.type === 'build') {
        const depId = await this.expand(dep.data.artifact);
        this.g.edge(buildId, depId, `depends on ${d.target}`);
      } else {
        const n = this.g.node({
          id: `target:${d.target}:${d.outputs}`,
          kind: 'target',
          label: d.target,
          data: { outputs: d.outputs },
        });
        this.g.edge(buildId, n, 'depends on');
      }
    }
    return id;
  }

  /** The signed attestations of `digest` in the store, their keys, and what the provenance states. */
  private async signatures(digest: string, id: string): Promise<void> {
    const seen = new Set<string>();
    for (const d of await bundleAttachments(this.store, digest as Digest).catch(() => [])) {
      const predicateType = d.annotations?.[PREDICATE_TYPE_ANNOTATION] ?? 'unknown';
      seen.add(d.digest);
      const sig = this.g.node({
        id: `signature:${d.digest}`,
        kind: 'signature',
        label: predicateType,
        data: { attachment: d.digest },
      });
      this.g.edge(id, sig, 'attestation');
      try {
        const m = parseManifest(await this.store.getBytes(d.digest), d.mediaType, d.digest);
        if (m.kind !== 'manifest' || m.layers.length !== 1) continue;
        const bundle = parseBundle(await this.store.getBytes(m.layers[0]!.digest));
        if (bundle.content.$case !== 'dsseEnvelope') continue;
        for (const s of bundle.content.dsseEnvelope.signatures) {
          const k = this.g.node({ id: `key:${s.keyid}`, kind: 'key', label: s.keyid });
          this.g.edge(sig, k, 'signed by');
        }
        if (predicateType === PREDICATE.slsaProvenance) {
          const st = parseStatement(Buffer.from(bundle.content.dsseEnvelope.payload));
          const ext = (
            st.predicate['buildDefinition'] as
              { externalParameters?: Record<string, unknown> } | undefined
          )?.externalParameters;
          const commit = typeof ext?.['commit'] === 'string' ? ext['commit'] : undefined;
          if (commit) {
            const c = this.g.node({ id: `commit:${commit}`, kind: 'commit', label: commit });
            this.g.edge(sig, c, 'states commit');
          }
        }
      } catch {
        // an unreadable attachment is shown without its key; `airlock verify` reports it
      }
    }
    // Signatures the log recorded whose bundle is no longer in the store.
    for (const r of this.log.list({ subject: digest, types: ['signature'] })) {
      const e = r.entry;
      if (e.type !== 'signature' || seen.has(e.data.attachment)) continue;
      const sig = this.g.node({
        id: `signature:${e.data.attachment}`,
        kind: 'signature',
        label: e.data.predicateType,
        data: { attachment: e.data.attachment, inStore: false },
      });
      this.g.edge(id, sig, 'attestation');
      const k = this.g.node({ id: `key:${e.data.keyId}`, kind: 'key', label: e.data.keyId });
      this.g.edge(sig, k, 'signed by');
    }
  }
}

const notFound = (what: string, hint: string): AirlockError<AuditErrorCode> =>
  new AirlockError<AuditErrorCode>('LINEAGE_NOT_FOUND', what, { hint });

/** Lineage over an open store and log (the dashboard calls this with its own store). */
export async function lineageOf(
  store: Store,
  log: AuditLog,
  req: Pick<LineageRequest, 'subject' | 'uses' | 'deployments'>,
): Promise<LineageGraph> {
  const running = await (req.deployments ?? auditDeployments(log)).running();
  const r = new LineageReader(store, log, running);
  if (req.uses !== undefined) {
    const q = parsePackageQuery(req.uses);
    if (!q)
      throw notFound(
        `${req.uses} is neither a purl nor package@version`,
        'Give e.g. pkg:npm/ms@2.1.3 or ms@2.1.3.',
      );
    const hits = q.exact
      ? log.artifactsUsing(q.purl).map((artifact) => ({ purl: q.purl, artifact }))
      : log.artifactsUsingPrefix(q.purl);
    for (const h of hits) {
      const p = r.g.node({ id: h.purl, kind: 'package', label: h.purl });
      r.g.root(p);
      const a = r.artifactNode(h.artifact);
      r.g.edge(p, a, 'contained in');
      for (const d of running.filter((x) => x.artifact === h.artifact))
        r.g.edge(a, r.placeNode(d), 'running in');
    }
    return r.g.build();
  }
  const subject = req.subject ?? '';
  if (subject.startsWith('sha256:')) {
    if (!isDigest(subject))
      throw notFound(`${subject} is not a sha256 digest`, 'Give the full sha256:<64 hex> digest.');
    if (log.list({ subject, limit: 1 }).length === 0 && !(await store.has(subject)))
      throw notFound(
        `nothing is known about ${subject}`,
        'Give the digest of an artifact built, pulled or deployed with this store.',
      );
    const id = await r.expand(subject);
    r.deploymentsOf(subject, false);
    r.g.root(id);
    return r.g.build();
  }
  const [environment, region] = subject.split('/', 2) as [string, string | undefined];
  const here = running.filter(
    (d) => d.environment === environment && (region === undefined || d.region === region),
  );
  if (here.length === 0)
    throw notFound(
      `no deployment of ${subject} is recorded`,
      'Name an environment or environment/region that `airlock deploy` has deployed to, or an artifact digest.',
    );
  r.g.root(r.placeNode(region === undefined ? { environment } : { environment, region }));
  for (const d of here) {
    const place = r.placeNode(d);
    const a = await r.expand(d.artifact);
    r.g.edge(place, a, 'runs');
  }
  return r.g.build();
}

/** `airlock lineage <digest | env[/region]>` and `airlock lineage --uses <purl | pkg@version>`. */
export async function runLineage(req: LineageRequest): Promise<LineageGraph> {
  const store = await StoreClass.open(req.store ?? defaultStoreRoot(), { events: req.events });
  try {
    const log = openAuditLog(store);
    try {
      return await lineageOf(store, log, req);
    } finally {
      log.close();
    }
  } finally {
    store.close();
  }
}
