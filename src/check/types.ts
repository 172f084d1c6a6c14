/** How loudly a finding speaks; `error` maps to SARIF `error`, and so on. */
export type Severity = 'error' | 'warning' | 'note';

/** A hermeticity level (docs/architecture.md): 1 non-hermetic … 5 fully hermetic. */
export type Level = 1 | 2 | 3 | 4 | 5;

/** The kinds of file `check` understands. */
export type FileKind =
  | 'dockerfile'
  | 'package-json'
  | 'package-lock'
  | 'yarn-lock'
  | 'pnpm-lock'
  | 'github-workflow'
  | 'gitlab-ci'
  | 'manifest'
  | 'airlock-yaml'
  | 'npmrc'
  | 'script'
  | 'c-source'
  | 'makefile';

/** A text edit: replace [line:column, endLine:endColumn) (1-based, end exclusive) with `text`. */
export interface Replacement {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  text: string;
}

/** One problem at one place, with why it matters and how to fix it. */
export interface Finding {
  ruleId: string;
  severity: Severity;
  /** Path relative to the scanned root, with '/' separators; empty for a finding about the whole repository. */
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  message: string;
  why: string;
  /** The highest level a project can reach while this finding stands. */
  caps: Level;
  fix: string;
  /** The exact replacement text, when the fix is mechanical. */
  replacement?: Replacement;
  /** Set when a `airlock: ignore <rule> -- reason` comment silenced this finding. */
  suppressed?: { reason: string };
}

/** A file handed to the rules: its root-relative path and text. */
export interface SourceFile {
  path: string;
  text: string;
}

/** Facts about the whole repository that single-file rules need. */
export interface RepoFacts {
  /** Every root-relative file path in the scan (not only the ones read). */
  paths: ReadonlySet<string>;
  /** True when airlock.yaml, a Makefile, a Dockerfile or a workflow sets SOURCE_DATE_EPOCH. */
  setsSourceDateEpoch: boolean;
}

/** What one level needs that the repository lacks. */
export interface LevelGap {
  level: Level;
  blockers: string[];
}

/** The result of `check`: the level, every finding, and how to climb. */
export interface CheckReport {
  level: Level;
  /** `check` judges from files alone and never awards level 5. */
  maxLevelFromFiles: 4;
  /** Level-5 evidence only a build can give. */
  buildEvidence: string[];
  findings: Finding[];
  suppressed: Finding[];
  gaps: LevelGap[];
  filesScanned: number;
  summary: { error: number; warning: number; note: number; suppressed: number };
}

/** Error codes of check, pin and init. */
export type CheckErrorCode = 'CHECK_ROOT_NOT_FOUND' | 'INIT_EXISTS';
