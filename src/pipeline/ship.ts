import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, type PlanErrorCode } from '../config/index.js';
import type { Digest } from '../core/digest.js';
import { AirlockError } from '../core/errors.js';
import { noEvents } from '../core/events.js';
import {
  runDeploy,
  runStatus,
  type DeployOptions,
  type DeployReport,
  type StatusReport,
} from './deploy.js';

/** The stages of `airlock ship`, in order. */
export const SHIP_STAGES = ['lock', 'fetch', 'build', 'repro', 'sign', 'deploy', 'status'] as const;
export type ShipStage = (typeof SHIP_STAGES)[number];

export interface ShipRequest extends DeployOptions {
  /** The target to ship (default: the only target with an `image:`, else the only target). */
  target?: string | undefined;
  /** Skip the reproducibility check (default: run it). */
  repro?: boolean | undefined;
  /** The cosign-format private key that signs SBOM, provenance and reproducibility. */
  key: string;
  password: string;
}

export interface ShipReport {
  target: string;
  artifact?: Digest;
  /** Every stage that ran, with what it found; the last one failed when `failed` is set. */
  stages: { stage: ShipStage; ok: boolean; detail: string }[];
  /** The stage that stopped the pipeline. */
  failed?: ShipStage;
  deploy?: DeployReport;
  status?: StatusReport;
}

/**
 * `airlock ship [target] --env <env>`: lock check → fetch → build → repro →
 * SBOM + provenance + signatures → verify and progressive deploy (pushed by
 * digest to every region) → status, stopping at the first failure with the
 * stage named.
 */
export async function runShip(req: ShipRequest): Promise<ShipReport> {
  const events = req.events ?? noEvents;
  const project = await loadConfig(req.project ?? process.cwd(), { checkSources: true });
  const target = req.target ?? pickTarget([...project.targets.values()]);
  if (!project.targets.has(target))
    throw new AirlockError<PlanErrorCode>(
      'UNKNOWN_TARGET',
      `${project.file} has no target ${target}`,
      {
        hint: `Name one of: ${[...project.targets.keys()].join(', ')}.`,
      },
    );
  const report: ShipReport = { target, stages: [] };
  const stage = async (name: ShipStage, fn: () => Promise<string>): Promise<boolean> => {
    events({ type: 'log', level: 'info', message: `ship: ${name}` });
    try {
      report.stages.push({ stage: name, ok: true, detail: await fn() });
      return true;
    } catch (err) {
      const code = err instanceof AirlockError ? `${String(err.code)}: ` : '';
      report.stages.push({
        stage: name,
        ok: false,
        detail: `${code}${err instanceof Error ? err.message : String(err)}`,
      });
      report.failed = name;
      return false;
    }
  };
  const common = { project: project.root, store: req.store, events };
  const steps: [ShipStage, () => Promise<string>][] = [
    [
      'lock',
      async () => {
        const exists = await access(join(project.root, 'airlock.lock')).then(
          () => true,
          () => false,
        );
        if (!exists) return 'no airlock.lock: nothing to lock';
        const { runLock } = await import('./lock.js');
        const r = await runLock({ project, check: true, events });
        if (r.differences.length > 0)
          throw new Error(`airlock.lock is stale: ${r.differences.length} difference(s)`);
        return 'airlock.lock is up to date';
      },
    ],
    [
      'fetch',
      async () => {
        const { runFetch } = await import('./fetch.js');
        const r = await runFetch({
          project,
          ...(req.store === undefined ? {} : { store: req.store }),
          insecure: req.insecure,
          events,
        });
        return `${r.downloaded.count} downloaded, ${r.present} already present`;
      },
    ],
    [
      'build',
      async () => {
        const { runBuild } = await import('./build.js');
        const r = await runBuild({ ...common, targets: [target], insecure: req.insecure });
        report.artifact = r.targets.find((t) => t.name === target)!.artifact as Digest;
        return `${target} → ${report.artifact}`;
      },
    ],
    [
      'repro',
      async () => {
        if (req.repro === false) return 'skipped (--no-repro)';
        const { runRepro } = await import('./repro.js');
        const r = await runRepro({ ...common, target, insecure: req.insecure });
        if (!r.reproducible)
          throw new Error(`${target} is not reproducible: ${r.differences.length} file(s) differ`);
        return 'reproducible';
      },
    ],
    [
      'sign',
      async () => {
        const { runSign } = await import('./sign.js');
        const r = await runSign({
          ...common,
          targets: [target],
          key: req.key,
          password: req.password,
        });
        const t = r.targets[0]!;
        return `${t.attachments.length} signed statements (SBOM, provenance${req.repro === false ? '' : ', reproducibility'}) by ${r.keyId}`;
      },
    ],
    [
      'deploy',
      async () => {
        // The checkpoint after the rollout is signed with the project's key, else with ship's.
        report.deploy = await runDeploy({
          ...req,
          artifact: report.artifact,
          audit: {
            ...req.audit,
            signing: {
              key: req.audit?.signing?.key ?? project.audit?.signingKey ?? req.key,
              password: req.audit?.signing?.password ?? req.password,
            },
          },
        });
        if (report.deploy.outcome !== 'promoted')
          throw new Error(
            `${report.deploy.outcome}: ${report.deploy.rollout.reason ?? 'see the rollout record'}`,
          );
        return `verified, pushed and promoted in ${report.deploy.rollout.promoted.join(', ')}`;
      },
    ],
    [
      'status',
      async () => {
        report.status = await runStatus(req);
        if (report.status.drift.length > 0)
          throw new Error(report.status.drift.map((d) => `${d.region}: ${d.detail}`).join('; '));
        return `every region runs ${report.artifact ?? ''}`;
      },
    ],
  ];
  for (const [name, fn] of steps) if (!(await stage(name, fn))) break;
  return report;
}

function pickTarget(targets: { name: string; image?: unknown }[]): string {
  const images = targets.filter((t) => t.image !== undefined);
  if (images.length === 1) return images[0]!.name;
  if (targets.length === 1) return targets[0]!.name;
  throw new AirlockError<PlanErrorCode>(
    'UNKNOWN_TARGET',
    'airlock ship needs a target: this project has several',
    {
      hint: `Name one: airlock ship <target> --env <env> (${targets.map((t) => t.name).join(', ')}).`,
    },
  );
}
