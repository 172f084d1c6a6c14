import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { AirlockError } from '../core/errors.js';
import { PREDICATE } from '../attest/index.js';
import type { PolicyErrorCode } from './errors.js';
import { POLICY_VERSION, type Policy, type PolicyIdentity } from './model.js';

/** Short names a policy may use for the predicate types Airlock writes. */
export const STATEMENT_NAMES: Readonly<Record<string, string>> = {
  'slsa-provenance': PREDICATE.slsaProvenance,
  provenance: PREDICATE.slsaProvenance,
  cyclonedx: PREDICATE.cyclonedx,
  spdx: PREDICATE.spdx,
  reproducibility: PREDICATE.reproducibility,
  'test-result': PREDICATE.testResult,
};

export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  message: string;
  fix: string;
}

const KEYS = [
  'version',
  'keys',
  'identities',
  'trustedRoot',
  'require',
  'builder',
  'source',
  'minLevel',
  'reproducible',
  'deny',
  'maxAge',
];

/** `30d`, `12h`, `90m`, `45s` → milliseconds; undefined when it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,8})([smhd])$/.exec(text);
  if (!m) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/**
 * Reads a policy file's text; every problem at once, each with its file,
 * line and column, thrown as POLICY_INVALID. Keyless identities are read
 * but refused as POLICY_UNSUPPORTED: they need a trusted root this version
 * does not load.
 */
export function parsePolicy(text: string, file: string): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const problems: PolicyProblem[] = [];
  const at = (node: Node | null | undefined, message: string, fix: string): void => {
    const { line, col } = lines.linePos(node?.range?.[0] ?? 0);
    problems.push({ file, line, column: col, message, fix });
  };
  for (const e of doc.errors) {
    const { line, col } = lines.linePos(e.pos[0]);
    problems.push({
      file,
      line,
      column: col,
      message: e.message.split('\n')[0] ?? 'YAML error',
      fix: 'Fix the YAML syntax.',
    });
  }
  const policy: Policy = {
    file,
    keys: [],
    identities: [],
    require: [],
    reproducible: false,
    deny: { purls: [], licenses: [] },
  };
  const root = doc.contents;
  if (problems.length === 0 && !isMap(root)) {
    at(
      root,
      'the policy is not a mapping',
      'Start from `version: 1` and the keys in docs/policy.md.',
    );
  }
  const str = (node: unknown, where: string): string | undefined => {
    if (isScalar(node) && typeof node.value === 'string' && node.value !== '') return node.value;
    at(node as Node, `${where} must be a non-empty string`, `Write ${where} as a quoted string.`);
    return undefined;
  };
  const strList = (node: unknown, where: string): string[] => {
    if (!isSeq(node)) {
      at(node as Node, `${where} must be a list`, `Write ${where} as a YAML list: [a, b].`);
      return [];
    }
    return node.items
      .map((x, i) => str(x, `${where}[${i}]`))
      .filter((x): x is string => x !== undefined);
  };
  let sawVersion = false;
  if (problems.length === 0 && isMap(root)) {
    for (const pair of root.items) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const value = pair.value;
      switch (key) {
        case 'version':
          sawVersion = true;
          if (!isScalar(value) || value.value !== POLICY_VERSION)
            at(value, `version must be ${POLICY_VERSION}`, `Write \`version: ${POLICY_VERSION}\`.`);
          break;
        case 'keys':
          policy.keys = strList(value, 'keys');
          break;
        case 'identities':
          policy.identities = identities(value);
          break;
        case 'trustedRoot':
          str(value, 'trustedRoot');
          break;
        case 'require':
          for (const [i, item] of (isSeq(value) ? value.items : []).entries()) {
            const name = str(item, `require[${i}]`);
            if (name === undefined) continue;
            const uri = STATEMENT_NAMES[name] ?? (/^https:\/\//.test(name) ? name : undefined);
            if (uri) policy.require.push(uri);
            else
              at(
                item,
                `unknown statement type "${name}"`,
                `Use one of ${Object.keys(STATEMENT_NAMES).join(', ')} or a predicate type URI.`,
              );
          }
          if (!isSeq(value)) strList(value, 'require');
          break;
        case 'builder': {
          const b = str(value, 'builder');
          if (b !== undefined) policy.builder = b;
          break;
        }
        case 'source':
          policy.source = subMap(value, 'source', ['repository', 'ref']);
          break;
        case 'minLevel':
          if (
            !isScalar(value) ||
            !Number.isInteger(value.value) ||
            (value.value as number) < 1 ||
            (value.value as number) > 5
          )
            at(value, 'minLevel must be an integer from 1 to 5', 'Write e.g. `minLevel: 4`.');
          else policy.minLevel = value.value as number;
          break;
        case 'reproducible':
          if (!isScalar(value) || typeof value.value !== 'boolean')
            at(value, 'reproducible must be true or false', 'Write `reproducible: true`.');
          else policy.reproducible = value.value;
          break;
        case 'deny': {
          if (!isMap(value)) {
            at(value, 'deny must be a mapping', 'Write `deny: { purls: [...], licenses: [...] }`.');
            break;
          }
          for (const p of value.items) {
            const k = isScalar(p.key) ? String(p.key.value) : '';
            if (k === 'purls') policy.deny.purls = strList(p.value, 'deny.purls');
            else if (k === 'licenses') policy.deny.licenses = strList(p.value, 'deny.licenses');
            else at(p.key, `unknown key deny.${k}`, 'deny takes purls and licenses.');
          }
          break;
        }
        case 'maxAge': {
          const t = str(value, 'maxAge');
          const ms = t === undefined ? undefined : parseDuration(t);
          if (t !== undefined && ms === undefined)
            at(
              value,
              `maxAge "${t}" is not a duration`,
              'Write a number and a unit: 45s, 90m, 12h or 30d.',
            );
          if (ms !== undefined) policy.maxAgeMs = ms;
          break;
        }
        default:
          at(keyNode, `unknown key "${key}"`, `A policy takes ${KEYS.join(', ')}.`);
      }
    }
    if (!sawVersion)
      at(root, 'the policy has no version', `Add \`version: ${POLICY_VERSION}\` at the top.`);
    if (policy.keys.length === 0 && policy.identities.length === 0)
      at(root, 'the policy trusts no key', "List the signers' public key files under `keys:`.");
  }
  if (problems.length > 0) {
    throw new AirlockError<PolicyErrorCode>(
      'POLICY_INVALID',
      problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`).join('\n'),
      { hint: problems[0]!.fix, details: { problems } },
    );
  }
  if (policy.identities.length > 0) {
    throw new AirlockError<PolicyErrorCode>(
      'POLICY_UNSUPPORTED',
      `${file}: keyless identities (identities:) are not supported: verifying a Fulcio certificate and its Rekor entry needs Sigstore's trusted root, and Airlock verifies offline with keys only`,
      {
        hint: "Remove identities: and list the signers' public keys under keys: (sign with a key from `airlock keygen` or `cosign generate-key-pair`).",
      },
    );
  }
  return policy;

  function subMap(value: unknown, where: string, allowed: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    if (!isMap(value)) {
      at(value as Node, `${where} must be a mapping`, `Write ${where}: { ${allowed.join(', ')} }.`);
      return out;
    }
    for (const p of value.items) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      if (!allowed.includes(k)) {
        at(p.key as Node, `unknown key ${where}.${k}`, `${where} takes ${allowed.join(' and ')}.`);
        continue;
      }
      const v = str(p.value, `${where}.${k}`);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  function identities(value: unknown): PolicyIdentity[] {
    if (!isSeq(value)) {
      at(
        value as Node,
        'identities must be a list',
        'Write identities as a list of { issuer, subject }.',
      );
      return [];
    }
    return value.items.map((item, i) => {
      const m = subMap(item, `identities[${i}]`, ['issuer', 'subject', 'subjectPattern']);
      return { issuer: m.issuer ?? '', ...m };
    });
  }
}
