import { DockerfileParser, Keyword, type From, type Instruction } from 'dockerfile-ast';
import { imageFinding } from './image.js';
import { finding, RULES } from './rules.js';
import { pinPackagesFix, runsScriptFromNetwork, unversionedInstalls } from './shell.js';
import { LineIndex } from './text.js';
import type { Finding, SourceFile } from './types.js';

const KEYWORDS = new Set<string>(Object.values(Keyword));

/** Commands that reach the network during a build, with the offline fix for each. */
const NETWORK_COMMANDS: { re: RegExp; what: string }[] = [
  { re: /\bapt-get\s+(?:-\S+\s+)*(?:update|install|upgrade|dist-upgrade)\b/, what: 'apt-get' },
  { re: /\bapt\s+(?:update|install)\b/, what: 'apt' },
  { re: /\bapk\s+(?:-\S+\s+)*(?:add|update)\b/, what: 'apk' },
  { re: /\b(?:yum|dnf|microdnf)\s+(?:-\S+\s+)*install\b/, what: 'yum/dnf' },
  { re: /\bcurl\s/, what: 'curl' },
  { re: /\bwget\s/, what: 'wget' },
  { re: /\bnpm\s+(?:install|i|ci|add|update)\b/, what: 'npm' },
  { re: /\byarn(?:\s+(?:install|add))?\s*(?:$|&&|;|--)/, what: 'yarn' },
  { re: /\bpnpm\s+(?:install|i|add)\b/, what: 'pnpm' },
  { re: /\bpip3?\s+install\b|\bpython3?\s+-m\s+pip\s+install\b/, what: 'pip' },
  { re: /\bgo\s+(?:get|install|mod\s+download)\b/, what: 'go' },
  { re: /\bgit\s+clone\b/, what: 'git clone' },
  { re: /\b(?:gem|bundle)\s+install\b/, what: 'gem/bundle' },
];

/** Flags that keep an otherwise networked command offline. */
const OFFLINE_RE = /--offline\b|--no-index\b|GOFLAGS=-mod=vendor|GOPROXY=off/;

/** Dependency installs whose inputs should be the manifests only. */
const INSTALL_RE =
  /\bnpm\s+(?:ci|install|i)\b|\byarn(?:\s+install)?\s*(?:$|&&|;|--)|\bpnpm\s+(?:install|i)\b|\bpip3?\s+install\b|\bgo\s+mod\s+download\b|\bbundle\s+install\b|\bcargo\s+fetch\b/;

const MANIFEST_RE =
  /(?:^|\/)(?:package(?:-lock)?\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|requirements[\w.-]*\.txt|pyproject\.toml|poetry\.lock|Pipfile(?:\.lock)?|go\.(?:mod|sum)|Cargo\.(?:toml|lock)|Gemfile(?:\.lock)?|\*\.json)$/;

/**
 * One shell command that fetches exactly what a lock or checksum says: a stage
 * whose every RUN is made of these (and plain file handling) is a pre-fetch
 * stage, whatever its name, and its network use is by design.
 */
const LOCKED_FETCH_RE =
  /^(?:npm\s+ci\b.*|yarn\s+(?:install\s+)?.*--(?:frozen-lockfile|immutable)\b.*|pnpm\s+(?:install|i)\b.*--frozen-lockfile\b.*|pnpm\s+fetch\b.*|pip3?\s+(?:install|download)\b.*--require-hashes\b.*|python3?\s+-m\s+pip\s+(?:install|download)\b.*--require-hashes\b.*|go\s+mod\s+(?:download|verify)\b.*|cargo\s+fetch\b.*--locked\b.*|bundle\s+install\b.*--frozen\b.*|sha(?:256|512)sum\s+(?:-c|--check)\b.*|(?:cd|mkdir|cp|mv|rm|ln|chmod|chown|true|echo|tar|unzip)\b.*)$/;
/** A download whose result a later `sha256sum -c` in the same RUN verifies. */
const DOWNLOAD_RE = /^(?:curl|wget)\b/;

/** True when every command of a RUN fetches against a lock or a checksum (downloads only with a `sha256sum -c` after them). */
function isLockedFetch(content: string): boolean {
  const cmds = content
    .split(/&&|;|\n|\|\|/)
    .map((c) => c.replace(/^\s*(?:set\s+-\S+\s*)?/, '').trim())
    .filter((c) => c && !c.startsWith('#') && c !== '\\');
  if (cmds.length === 0) return false;
  const verified = cmds.some((c) => /^sha(?:256|512)sum\s+(?:-c|--check)\b/.test(c));
  return cmds.every((c) => LOCKED_FETCH_RE.test(c) || (verified && DOWNLOAD_RE.test(c)));
}

/** What `check` needs to know about the repository around a Dockerfile. */
export interface DockerfileContext {
  /** A lockfile sits beside the Dockerfile or above it, so `npm ci` can work. */
  npmLockfile: boolean;
}

/** The offline fix for a networked RUN, in terms of the tools it uses. */
function networkFix(hits: readonly string[], ctx: DockerfileContext): string {
  const parts: string[] = [];
  if (hits.includes('npm'))
    parts.push(
      ctx.npmLockfile
        ? 'install npm dependencies with `npm ci` from the committed lockfile in a stage that only fetches, and COPY node_modules from it'
        : 'there is no lockfile, so npm resolves afresh on every build: commit package-lock.json first, then install exactly it in a stage that only fetches',
    );
  if (hits.some((h) => h === 'apt-get' || h === 'apt' || h === 'apk' || h === 'yum/dnf'))
    parts.push(
      'install OS packages at pinned versions from a snapshot mirror, or use a base image that has them',
    );
  if (hits.includes('pip'))
    parts.push('install Python packages with `pip install --require-hashes -r requirements.txt`');
  if (hits.includes('curl') || hits.includes('wget') || hits.includes('git clone'))
    parts.push('download with `ADD --checksum=sha256:<hex> <url>` or verify with `sha256sum -c`');
  if (parts.length === 0)
    parts.push('fetch in a stage that only fetches against a lock and COPY the result');
  return `${parts.map((p) => p[0]!.toUpperCase() + p.slice(1)).join('; ')}; build steps then run offline with \`RUN --network=none\`.`;
}

/** 0-based dockerfile-ast range → 1-based span. */
function span(r: {
  start: { line: number; character: number };
  end: { line: number; character: number };
}) {
  return {
    line: r.start.line + 1,
    column: r.start.character + 1,
    endLine: r.end.line + 1,
    endColumn: r.end.character + 1,
  };
}

/** Replaces `${NAME}`/`$NAME` with the defaults of ARGs declared before the first FROM; undefined when one has none. */
function expandArgs(
  ref: string,
  args: Map<string, string | undefined>,
): { value: string; missing?: string } {
  let missing: string | undefined;
  const value = ref.replace(
    /\$\{([A-Za-z_]\w*)(?::-([^}]*))?\}|\$([A-Za-z_]\w*)/g,
    (_m, a, dflt, b) => {
      const name = (a ?? b) as string;
      const v = args.get(name) ?? (dflt as string | undefined);
      if (v === undefined) {
        missing = name;
        return `\${${name}}`;
      }
      return v;
    },
  );
  return missing === undefined ? { value } : { value, missing };
}

/** The sources of a COPY/ADD (every argument but the destination). */
function sources(ins: Instruction): string[] {
  const args = ins.getArguments().map((a) => a.getValue());
  return args.slice(0, -1);
}

/** Flags on an instruction that has them (`--network=none`, `--from=…`, `--checksum=…`). */
function flags(ins: Instruction): Map<string, string | null> {
  const out = new Map<string, string | null>();
  const withFlags = ins as Instruction & {
    getFlags?: () => { getName(): string; getValue(): string | null }[];
  };
  for (const f of withFlags.getFlags?.() ?? []) out.set(f.getName(), f.getValue());
  return out;
}

/**
 * Runs every Dockerfile rule over one file. Never throws: a file the parser
 * cannot make sense of (unknown instruction, no FROM) is a parse-error finding.
 */
export function checkDockerfile(
  file: SourceFile,
  ctx: DockerfileContext = { npmLockfile: false },
): Finding[] {
  const out: Finding[] = [];
  const index = new LineIndex(file.text);
  const df = DockerfileParser.parse(file.text);
  const instructions = df.getInstructions();
  for (const d of df.getDirectives()) {
    const value = d.getValue().trim();
    if (d.getName().toLowerCase() !== 'syntax' || !value) continue;
    const line = d.getRange().start.line + 1;
    const column = index.lineText(line).indexOf(value) + 1;
    const f = imageFinding(
      file.path,
      { line, column, endColumn: column + value.length },
      value,
      'syntax directive (BuildKit frontend image)',
    );
    if (f) out.push(f);
  }
  for (const ins of instructions) {
    if (!KEYWORDS.has(ins.getKeyword())) {
      out.push(
        finding(
          RULES.parseError,
          file.path,
          span(ins.getInstructionRange()),
          `unknown instruction \`${ins.getInstruction()}\``,
          `Use a Dockerfile instruction (${[...KEYWORDS].slice(0, 6).join(', ')}, …) or fix the typo.`,
        ),
      );
    }
  }
  const froms = df.getFROMs();
  if (froms.length === 0) {
    out.push(
      finding(
        RULES.parseError,
        file.path,
        { line: 1, column: 1 },
        'no FROM instruction',
        'Start the Dockerfile with `FROM <image>@sha256:<digest>`.',
      ),
    );
    return out;
  }

  const args = new Map<string, string | undefined>();
  for (const arg of df.getInitialARGs()) {
    const p = arg.getProperty();
    if (p) args.set(p.getName(), p.getValue() ?? undefined);
  }

  const stages = new Set<string>();
  const prefetchStages = prefetchStageStarts(instructions);
  let prefetch = false;
  let copyAll: Instruction | undefined;
  let manifestCopied = false;
  for (const ins of instructions) {
    const kw = ins.getKeyword();
    if (kw === 'FROM') {
      const from = ins as From;
      const stageName = from.getBuildStage() ?? '';
      prefetch = prefetchStages.has(ins);
      copyAll = undefined;
      manifestCopied = false;
      const raw = from.getImage();
      const range = from.getImageRange();
      if (raw && range && !stages.has(raw.toLowerCase())) {
        const { value, missing } = expandArgs(raw, args);
        if (missing !== undefined) {
          out.push(
            finding(
              RULES.imageFloating,
              file.path,
              span(range),
              `base image \`${raw}\` comes from build argument ${missing}, which has no default`,
              `Give it a pinned default: \`ARG ${missing}=<image>@sha256:<digest>\`.`,
            ),
          );
        } else if (!stages.has(value.toLowerCase())) {
          const f = imageFinding(
            file.path,
            span(range),
            value,
            raw === value ? 'base image' : `base image (from \`${raw}\`)`,
          );
          if (f) out.push(f);
        }
      }
      if (stageName) stages.add(stageName.toLowerCase());
      continue;
    }
    if (kw === 'RUN') {
      const content = ins.getArgumentsContent() ?? '';
      const fl = flags(ins);
      const offline = fl.get('network') === 'none' || OFFLINE_RE.test(content);
      if (!offline && !prefetch) {
        const hits = NETWORK_COMMANDS.filter((c) => c.re.test(content)).map((c) => c.what);
        if (hits.length > 0) {
          out.push(
            finding(
              RULES.dockerNetwork,
              file.path,
              span(ins.getRange()),
              `RUN reaches the network (${hits.join(', ')})`,
              networkFix(hits, ctx),
            ),
          );
        }
      }
      if (runsScriptFromNetwork(content)) {
        out.push(
          finding(
            RULES.networkScript,
            file.path,
            span(ins.getRange()),
            'RUN pipes a script from the network into a shell',
            'Download it with `ADD --checksum=sha256:<hex> <url> /tmp/install.sh` (or verify it with `sha256sum -c`), then run the file.',
          ),
        );
      }
      for (const install of unversionedInstalls(content)) {
        out.push(
          finding(
            RULES.dockerAptUnversioned,
            file.path,
            span(ins.getRange()),
            `packages installed without versions: ${install.packages.join(', ')}`,
            pinPackagesFix(install),
          ),
        );
      }
      if (copyAll && !manifestCopied && INSTALL_RE.test(content)) {
        out.push(
          finding(
            RULES.dockerCopyAll,
            file.path,
            span(copyAll.getRange()),
            'the whole build context is copied before dependencies are installed',
            'Copy the manifests first (`COPY package.json package-lock.json ./`), install, then `COPY . .`.',
          ),
        );
        copyAll = undefined;
      }
      continue;
    }
    if (kw === 'COPY' || kw === 'ADD') {
      const fl = flags(ins);
      const srcs = sources(ins);
      const from = fl.get('from');
      if (from && !stages.has(from.toLowerCase()) && !/^\d+$/.test(from)) {
        const r = ins.getRange();
        const line = r.start.line + 1;
        const column = index.lineText(line).indexOf(from) + 1;
        const f = imageFinding(
          file.path,
          { line, column, endColumn: column + from.length },
          from,
          `${kw} --from image`,
        );
        if (f) out.push(f);
      }
      if (!fl.has('from')) {
        if (srcs.some((s) => s === '.' || s === './')) copyAll ??= ins;
        else if (!copyAll && srcs.some((s) => MANIFEST_RE.test(s))) manifestCopied = true;
      }
      if (kw === 'ADD' && !fl.has('checksum')) {
        const url = srcs.find((s) => /^(?:https?|git|ssh):\/\/|^git@|\.git(?:#|$)/.test(s));
        if (url) {
          out.push(
            finding(
              RULES.dockerAddUrl,
              file.path,
              span(ins.getRange()),
              `ADD downloads \`${url}\` without --checksum`,
              `Verify it: \`ADD --checksum=sha256:<hex> ${url} …\` (\`sha256sum\` of a download you trust gives the hex).`,
            ),
          );
        }
      }
    }
  }

  if (!/^\s*(?:ARG|ENV)\s+[^\n]*\bSOURCE_DATE_EPOCH\b/im.test(file.text)) {
    const last = froms[froms.length - 1]!;
    const at = span(last.getRange());
    const nextLine = at.endLine + 1;
    out.push(
      finding(
        RULES.dockerNoSde,
        file.path,
        span(froms[0]!.getRange()),
        'SOURCE_DATE_EPOCH is never declared',
        'Add `ARG SOURCE_DATE_EPOCH` after the final FROM and pass `--build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`.',
        {
          replacement:
            nextLine <= index.lineCount
              ? {
                  line: nextLine,
                  column: 1,
                  endLine: nextLine,
                  endColumn: 1,
                  text: 'ARG SOURCE_DATE_EPOCH\n',
                }
              : {
                  line: at.endLine,
                  column: at.endColumn,
                  endLine: at.endLine,
                  endColumn: at.endColumn,
                  text: '\nARG SOURCE_DATE_EPOCH',
                },
        },
      ),
    );
  }
  return out;
}

/** Every FROM image in a Dockerfile with its 1-based location, for `pin`. */
export function dockerfileImages(
  text: string,
): { ref: string; line: number; column: number; endColumn: number }[] {
  const df = DockerfileParser.parse(text);
  const stages = new Set<string>();
  const out: { ref: string; line: number; column: number; endColumn: number }[] = [];
  for (const from of df.getFROMs()) {
    const raw = from.getImage();
    const r = from.getImageRange();
    if (
      raw &&
      r &&
      r.start.line === r.end.line &&
      !stages.has(raw.toLowerCase()) &&
      !raw.includes('$')
    ) {
      out.push({
        ref: raw,
        line: r.start.line + 1,
        column: r.start.character + 1,
        endColumn: r.end.character + 1,
      });
    }
    const st = from.getBuildStage();
    if (st) stages.add(st.toLowerCase());
  }
  return out;
}

/** The FROM instructions that start a pre-fetch stage: one with RUN steps that all fetch against a lock or checksum. */
function prefetchStageStarts(instructions: readonly Instruction[]): Set<Instruction> {
  const out = new Set<Instruction>();
  let start: Instruction | undefined;
  let runs: string[] = [];
  const close = (): void => {
    if (start && runs.length > 0 && runs.every(isLockedFetch)) out.add(start);
  };
  for (const ins of instructions) {
    if (ins.getKeyword() === 'FROM') {
      close();
      start = ins;
      runs = [];
    } else if (ins.getKeyword() === 'RUN') runs.push(ins.getArgumentsContent() ?? '');
  }
  close();
  return out;
}
