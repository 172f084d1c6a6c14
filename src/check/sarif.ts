import { pathToFileURL } from 'node:url';
import type { Log, ReportingDescriptor, Result } from 'sarif';
import { ALL_RULES } from './rules.js';
import type { CheckReport, Finding } from './types.js';

const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

function result(f: Finding, ruleIndex: Map<string, number>): Result {
  const r: Result = {
    ruleId: f.ruleId,
    level: f.severity,
    message: { text: `${f.message}. ${f.why} Fix: ${f.fix}` },
    // A finding about the whole repository (file '') has no location.
    locations:
      f.file === ''
        ? []
        : [
            {
              physicalLocation: {
                artifactLocation: { uri: encodeURI(f.file), uriBaseId: '%SRCROOT%' },
                region: {
                  startLine: f.line,
                  startColumn: f.column,
                  endLine: f.endLine,
                  endColumn: f.endColumn,
                },
              },
            },
          ],
    partialFingerprints: { 'airlock/v1': `${f.ruleId}:${f.file}:${f.line}` },
    properties: { capsLevel: f.caps },
  };
  const idx = ruleIndex.get(f.ruleId);
  if (idx !== undefined) r.ruleIndex = idx;
  if (f.replacement) {
    const rep = f.replacement;
    r.fixes = [
      {
        description: { text: f.fix },
        artifactChanges: [
          {
            artifactLocation: { uri: encodeURI(f.file), uriBaseId: '%SRCROOT%' },
            replacements: [
              {
                deletedRegion: {
                  startLine: rep.line,
                  startColumn: rep.column,
                  endLine: rep.endLine,
                  endColumn: rep.endColumn,
                },
                insertedContent: { text: rep.text },
              },
            ],
          },
        ],
      },
    ];
  }
  if (f.suppressed) r.suppressions = [{ kind: 'inSource', justification: f.suppressed.reason }];
  return r;
}

/** The repository root as the absolute file: URI SARIF wants for %SRCROOT% (ending in '/'). */
function rootUri(root: string | undefined): string {
  if (root === undefined) return 'file:///';
  const href = pathToFileURL(root).href;
  return href.endsWith('/') ? href : `${href}/`;
}

/**
 * The report as a SARIF 2.1.0 log that GitHub code scanning accepts: one run,
 * every rule described, suppressed findings carried with their justification.
 */
export function toSarif(report: CheckReport & { root?: string }, toolVersion = '0.1.0'): Log {
  const rules: ReportingDescriptor[] = ALL_RULES.map((r) => ({
    id: r.id,
    name: r.id.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) =>
      (c ?? '').toUpperCase(),
    ),
    shortDescription: { text: r.title },
    fullDescription: { text: r.why },
    defaultConfiguration: { level: r.severity },
    properties: { capsLevel: r.caps, tags: ['hermeticity', 'supply-chain'] },
  }));
  const ruleIndex = new Map(rules.map((r, i) => [r.id, i]));
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'airlock',
            version: toolVersion,
            informationUri: 'https://github.com/airlock-build/airlock',
            rules,
          },
        },
        originalUriBaseIds: { '%SRCROOT%': { uri: rootUri(report.root) } },
        results: [...report.findings, ...report.suppressed].map((f) => result(f, ruleIndex)),
        properties: {
          hermeticityLevel: report.level,
          maxLevelFromFiles: report.maxLevelFromFiles,
          buildEvidence: report.buildEvidence,
        },
      },
    ],
  };
}
