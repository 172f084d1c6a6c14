import { posix } from 'node:path';
import { finding, RULES } from './rules.js';
import { LineIndex } from './text.js';
import type { Finding, SourceFile } from './types.js';

const CLOCK: Record<'js' | 'py' | 'sh', RegExp> = {
  js: /\bnew Date\(\s*\)|\bDate\.now\(\s*\)/,
  py: /\b(?:datetime\.(?:now|utcnow|today)|date\.today|time\.time)\(\s*\)/,
  sh: /(?:^|[\s;|&(`]|\$\()date(?=$|[\s;)|`])/,
};

const HASH_RE =
  /sha(?:256|512|1)sum|shasum|openssl\s+dgst|createHash|hashlib|b3sum|--checksum|digest/i;
const CACHE_TEST: Record<'js' | 'py' | 'sh', RegExp> = {
  sh: /(?:\[\[?|\btest)\s+-[fes]\s+["']?([^\s"'\]]*(?:cache|\.tar|\.tgz|\.zip|\.whl|\.jar)[^\s"'\]]*)/i,
  js: /\b(?:existsSync|access(?:Sync)?)\(\s*[^)]*(cache|\.tar|\.tgz|\.zip)[^)]*\)/i,
  py: /\b(?:os\.path\.(?:exists|isfile)|Path\([^)]*\)\.exists)\(\s*[^)]*(cache|\.tar|\.tgz|\.zip|\.whl)[^)]*\)/i,
};

/** The script language from a file name, if it is a build script `check` reads. */
export function scriptLanguage(path: string): 'js' | 'py' | 'sh' | undefined {
  if (/\.(?:[cm]?js|[cm]?ts)$/.test(path)) return 'js';
  if (/\.py$/.test(path)) return 'py';
  if (/\.(?:sh|bash)$/.test(path)) return 'sh';
  return undefined;
}

/**
 * Runs the build-script rules: wall-clock time (silent on a line, or right
 * after one, that consults SOURCE_DATE_EPOCH) and caches reused without a hash check.
 */
export function checkScript(file: SourceFile): Finding[] {
  const lang = scriptLanguage(file.path);
  if (!lang) return [];
  const index = new LineIndex(file.text);
  const out: Finding[] = [];
  const hashes = HASH_RE.test(file.text);
  for (let line = 1; line <= index.lineCount; line++) {
    const text = index.lineText(line);
    const code = lang === 'js' ? text.replace(/\/\/.*$/, '') : text.replace(/(^|\s)#.*$/, '');
    if (!code.trim()) continue;
    const m = CLOCK[lang].exec(code);
    const nearSde = [line, line - 1, line - 2].some(
      (l) => l >= 1 && index.lineText(l).includes('SOURCE_DATE_EPOCH'),
    );
    if (m && !nearSde) {
      const col = m.index + (lang === 'sh' ? m[0].indexOf('date') : 0) + 1;
      out.push(
        finding(
          RULES.scriptClock,
          file.path,
          { line, column: col, endColumn: col + m[0].trim().length },
          `build script reads the wall clock (\`${m[0].trim()}\`)`,
          lang === 'js'
            ? 'Use `new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000)`.'
            : lang === 'py'
              ? 'Use `datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), timezone.utc)`.'
              : 'Use `date -u -d "@$SOURCE_DATE_EPOCH"`.',
        ),
      );
    }
    const c = CACHE_TEST[lang].exec(code);
    if (c && !hashes) {
      out.push(
        finding(
          RULES.scriptCache,
          file.path,
          { line, column: c.index + 1, endColumn: c.index + 1 + c[0].length },
          'a cached artifact is reused because it exists, without checking its hash',
          'Compare its digest before reuse (`echo "<sha256>  cache/x.tar" | sha256sum -c -`) or let the Airlock action cache do it.',
        ),
      );
    }
  }
  return out;
}

/** Runs the C rule: `__DATE__`/`__TIME__` are wall-clock unless the build sets SOURCE_DATE_EPOCH (GCC ≥ 7 honours it). */
export function checkCSource(file: SourceFile, setsSourceDateEpoch: boolean): Finding[] {
  if (setsSourceDateEpoch || !/__(?:DATE|TIME|TIMESTAMP)__/.test(file.text)) return [];
  const index = new LineIndex(file.text);
  const out: Finding[] = [];
  for (let line = 1; line <= index.lineCount; line++) {
    const code = index
      .lineText(line)
      .replace(/\/\*.*?\*\/|\/\/.*$|^\s*(?:\/\*|\*).*$/g, (c) => ' '.repeat(c.length));
    const m = /__(?:DATE|TIME|TIMESTAMP)__/.exec(code);
    if (m) {
      out.push(
        finding(
          RULES.scriptClock,
          file.path,
          { line, column: m.index + 1, endColumn: m.index + 1 + m[0].length },
          `${m[0]} embeds the compile time`,
          'Set SOURCE_DATE_EPOCH for the build (airlock.yaml `sourceDateEpoch`), which GCC uses for __DATE__/__TIME__, or drop the macro.',
        ),
      );
    }
  }
  return out;
}

const SCRIPT_REF_RE =
  /(?:^|[\s"'=(])((?:\.{1,2}\/)?[\w@.-]+(?:\/[\w@.-]+)*\.(?:[cm]?js|[cm]?ts|py|sh|bash))(?=$|[\s"';)&|])/g;

/** Script paths a command line mentions, resolved against `baseDir` and kept inside the root. */
export function scriptReferences(command: string, baseDir: string): string[] {
  const out: string[] = [];
  for (const m of command.matchAll(SCRIPT_REF_RE)) {
    const p = posix.normalize(posix.join(baseDir, m[1]!));
    if (!p.startsWith('../') && p !== '..') out.push(p);
  }
  return out;
}
