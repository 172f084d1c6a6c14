import type { Command } from 'commander';
import type { AuditEntry } from '../../audit/index.js';
import { AUDIT_EVENT_TYPES, isAuditEventType } from '../../audit/types.js';
import { AirlockError } from '../../core/errors.js';
import type { AuditLogReport, AuditVerifyReport } from '../../pipeline/audit.js';
import { runReport } from '../run.js';
import { signingPassword } from './keygen.js';

const repeatable = (v: string, prev: string[]): string[] => [...prev, v];

export function register(cli: Command): void {
  const audit = cli
    .command('audit')
    .description(
      'the tamper-evident audit log: read it, export it, verify its hash chain, sign checkpoints',
    );

  audit
    .command('log')
    .description('print the audit log, oldest first')
    .option(
      '--since <when>',
      'only entries since an ISO date/time or a duration back (30m, 12h, 7d)',
    )
    .option(
      '--type <type>',
      `only this event type (repeatable): ${AUDIT_EVENT_TYPES.join(', ')}`,
      repeatable,
      [],
    )
    .option('--artifact <digest>', 'only entries about this artifact digest')
    .option(
      '--target <name>',
      'only entries about this target (build, repro, attestation, signature)',
    )
    .option('--limit <n>', 'only the newest n entries')
    .addHelpText(
      'after',
      '\nExamples:\n  airlock audit log --since 7d --type build\n  airlock audit log --type deploy.rollback --json\n',
    )
    .action(
      async (
        opts: {
          since?: string;
          type: string[];
          artifact?: string;
          target?: string;
          limit?: string;
        },
        cmd: Command,
      ) => {
        const bad = opts.type.filter((t) => !isAuditEventType(t));
        if (bad.length > 0)
          throw new AirlockError('USAGE', `unknown event type ${bad.join(', ')}`, {
            hint: `Event types: ${AUDIT_EVENT_TYPES.join(', ')}.`,
          });
        const limit = opts.limit !== undefined ? Number(opts.limit) : undefined;
        if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
          throw new AirlockError(
            'USAGE',
            `--limit must be a positive whole number, not ${opts.limit}`,
            {
              hint: 'Pass e.g. --limit 50.',
            },
          );
        await runReport(
          cmd,
          async ({ global, events }) => {
            const { runAuditLog, parseSince } = await import('../../pipeline/audit.js');
            return runAuditLog({
              store: global.store,
              events,
              filter: {
                ...(opts.since !== undefined ? { since: parseSince(opts.since, Date.now()) } : {}),
                ...(opts.type.length > 0 ? { types: opts.type.filter(isAuditEventType) } : {}),
                ...(opts.artifact !== undefined ? { subject: opts.artifact } : {}),
                ...(opts.target !== undefined ? { target: opts.target } : {}),
                ...(limit !== undefined ? { limit } : {}),
              },
            });
          },
          logText,
        );
      },
    );

  audit
    .command('verify')
    .description(
      'recompute the hash chain; check it extends every checkpoint (kept in the store or given)',
    )
    .option('--checkpoint <file>', 'a checkpoint bundle kept earlier (repeatable)', repeatable, [])
    .option(
      '--key <file>',
      'public key checkpoint signatures must verify against (repeatable)',
      repeatable,
      [],
    )
    .addHelpText(
      'after',
      '\nDetects an edited, deleted, reordered or inserted entry; a cut-off tail or rewritten history\nis detected against a checkpoint (`airlock audit checkpoint --output FILE` keeps one).\nExits 1 when the log fails.\n',
    )
    .action(async (opts: { checkpoint: string[]; key: string[] }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, session }) => {
          const { runAuditVerify } = await import('../../pipeline/audit.js');
          return runAuditVerify({
            store: global.store,
            events,
            checkpoints: opts.checkpoint.map((f) => session.path(f)),
            keys: opts.key.map((f) => session.path(f)),
          });
        },
        verifyText,
        (r) => r.ok,
      ),
    );

  audit
    .command('export')
    .description(
      'write the whole log as JSON Lines (one entry per line, with its hash), for a SIEM',
    )
    .option('-o, --output <file>', 'write to this file instead of standard output')
    .action(async (opts: { output?: string }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, session }) => {
          const { runAuditExport } = await import('../../pipeline/audit.js');
          return runAuditExport({
            store: global.store,
            events,
            output: opts.output !== undefined ? session.path(opts.output) : undefined,
          });
        },
        (r) =>
          r.lines
            ? r.lines.map((l) => `${l}\n`).join('')
            : `wrote ${r.entries} entries to ${r.output ?? ''}\n`,
      ),
    );

  audit
    .command('checkpoint')
    .description(
      "sign the log's head with the project key and keep it as a referrer of the store tag airlock/audit",
    )
    .requiredOption('--key <file>', 'the cosign-format private key (airlock keygen)')
    .option('-o, --output <file>', 'also write the checkpoint bundle here, for a verifier to keep')
    .addHelpText(
      'after',
      '\nThe password comes from AIRLOCK_PASSWORD or COSIGN_PASSWORD, or is asked on the terminal.\n`airlock sign` also signs a checkpoint; `airlock push` pushes them as tag airlock-audit.\n',
    )
    .action(async (opts: { key: string; output?: string }, cmd: Command) =>
      runReport(
        cmd,
        async ({ global, events, session }) => {
          const password = await signingPassword(session.io);
          const { runAuditCheckpoint } = await import('../../pipeline/audit.js');
          return runAuditCheckpoint({
            store: global.store,
            events,
            key: session.path(opts.key),
            password,
            output: opts.output !== undefined ? session.path(opts.output) : undefined,
          });
        },
        (r) =>
          `checkpoint: entry ${r.seq} ${r.head} signed by ${r.keyId}\n  kept as ${r.attachment}${r.output ? `\n  written to ${r.output}` : ''}\n`,
      ),
    );
}

/** One line of what an entry says. */
function summary(e: AuditEntry): string {
  switch (e.type) {
    case 'build':
      return `${e.data.project}/${e.data.target} ${e.data.cache} ${e.data.artifact}${e.data.sourceCommit ? ` commit ${e.data.sourceCommit.slice(0, 12)}${e.data.dirty ? ' (dirty)' : ''}` : ''}`;
    case 'repro':
      return `${e.data.target} ${e.data.reproducible ? 'reproducible' : `NOT reproducible (${e.data.differences} differences)`}`;
    case 'attestation':
      return `${e.data.predicateType} for ${e.data.artifact}`;
    case 'signature':
      return `${e.data.predicateType} for ${e.data.artifact} by key ${e.data.keyId}`;
    case 'push':
      return e.data.reference;
    case 'verify':
      return `${e.data.pass ? 'PASS' : 'FAIL'} ${e.data.artifact} policy ${e.data.policyDigest} (${e.data.rules.filter((r) => !r.pass).length} of ${e.data.rules.length} rules failed)`;
    case 'deploy.step':
      return `${e.data.environment}${e.data.region ? `/${e.data.region}` : ''} step ${e.data.step} ${e.data.decision} ${e.data.artifact}`;
    case 'deploy.promotion':
      return `${e.data.environment}${e.data.region ? `/${e.data.region}` : ''} ${e.data.artifact}`;
    case 'deploy.rollback':
      return `${e.data.environment}${e.data.region ? `/${e.data.region}` : ''} ${e.data.from} → ${e.data.to} (${e.data.automatic ? 'automatic' : `by ${e.data.by ?? '?'}`}: ${e.data.reason})`;
    case 'deploy.drift':
      return `${e.data.environment}${e.data.region ? `/${e.data.region}` : ''} expected ${e.data.expected}, running ${e.data.running.join(', ') || 'nothing'}`;
  }
}

function logText(r: AuditLogReport): string {
  if (r.entries.length === 0) return 'no audit entries match\n';
  return r.entries
    .map(
      ({ seq, entry: e }) =>
        `${String(seq).padStart(6)}  ${new Date(e.time).toISOString()}  ${e.type.padEnd(16)}  ${e.actor.user}@${e.actor.host}${e.actor.via ? ` via ${e.actor.via}` : ''}  ${summary(e)}\n`,
    )
    .join('');
}

function verifyText(r: AuditVerifyReport): string {
  const out = [
    `${r.ok ? 'OK' : 'TAMPERED'}: ${r.entries} entries, head ${r.head.seq} ${r.head.hash ?? '(empty)'}`,
  ];
  for (const p of r.problems) out.push(`  entry ${p.seq}: ${p.kind}: ${p.message}`);
  for (const c of r.checkpoints)
    out.push(
      `  checkpoint ${c.seq} (${c.source}): ${c.consistent ? 'the log extends it' : 'NOT consistent'}; signature ${c.signature}${c.keyId ? ` by ${c.keyId}` : ''}`,
    );
  if (r.tail.unprotected > 0)
    out.push(
      r.tail.checkpointed === 0
        ? `  no checkpoint: entries 1–${r.head.seq} are unprotected; a cut-off tail or rewritten history cannot be detected (sign one with \`airlock audit checkpoint --key K\`, or set audit.signingKey in airlock.yaml)`
        : `  no checkpoint since entry ${r.tail.checkpointed}: entries ${r.tail.checkpointed + 1}–${r.head.seq} are unprotected; a cut-off or rewrite among them cannot be detected`,
    );
  if (!r.tail.kept && r.head.seq > 0)
    out.push(
      '  no checkpoint kept outside the store was given: whoever can write the store can remove its checkpoints with the tail (keep one with `airlock audit checkpoint --output FILE` and pass it with --checkpoint FILE)',
    );
  return `${out.join('\n')}\n`;
}
