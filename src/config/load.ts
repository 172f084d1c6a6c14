import { existsSync, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import picomatch from 'picomatch';
import { AirlockError, errnoCode } from '../core/errors.js';
import type { ConfigErrorCode, ProjectConfig } from './model.js';
import { CONFIG_FILE } from './model.js';
import { analyzeConfig, type ConfigTreeFacts } from './parse.js';
import { formatProblems } from './problems.js';

/**
 * Reads `<dir>/airlock.yaml` (or the given file) and returns the validated
 * config, or throws CONFIG_NOT_FOUND, CONFIG_PARSE (YAML syntax) or
 * CONFIG_INVALID whose message lists every problem as `file:line:col: …`.
 */
export async function loadConfig(
  dirOrFile: string,
  opts: {
    /** Also report every sources glob that matches no file of the project (what `build` needs). */
    checkSources?: boolean;
  } = {},
): Promise<ProjectConfig> {
  const given = resolve(dirOrFile);
  let file = given;
  try {
    if ((await stat(given)).isDirectory()) file = join(given, CONFIG_FILE);
  } catch (err) {
    throw notFound(given, err);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw notFound(file, err);
  }
  const { config, problems, syntax } = analyzeConfig(
    text,
    file,
    opts.checkSources ? projectTree(dirname(file)) : undefined,
  );
  if (config !== undefined) return config;
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  throw new AirlockError<ConfigErrorCode>(
    syntax ? 'CONFIG_PARSE' : 'CONFIG_INVALID',
    `${file}: ${count}\n${formatProblems(problems)}`,
    {
      hint: syntax
        ? `Fix the YAML syntax at the position shown in ${file}.`
        : `Fix each problem listed in ${file}; each line ends with its fix.`,
      details: { file, problems },
    },
  );
}

function notFound(path: string, err: unknown): AirlockError<ConfigErrorCode> {
  const code = errnoCode(err);
  const missing = code === 'ENOENT' || code === 'ENOTDIR';
  return new AirlockError<ConfigErrorCode>(
    'CONFIG_NOT_FOUND',
    missing ? `no ${CONFIG_FILE} at ${path}` : `cannot read ${path} (${code ?? 'error'})`,
    {
      hint: missing
        ? `Run \`airlock init\` in the project root to create ${CONFIG_FILE}, or pass the directory that holds it.`
        : `Check that ${path} is a readable file.`,
      details: { file: path, errno: code },
      cause: err,
    },
  );
}

/** Directories never searched for sources: VCS data and Airlock's own state. */
const NEVER_SOURCES = new Set(['.git', '.airlock']);

/**
 * Answers "does this glob match a file?" from the project directory: walks
 * only below the glob's static base and stops at the first match. Symlinks
 * count as files; symlinked directories are not followed (as in the build).
 */
export function projectTree(root: string): ConfigTreeFacts {
  return {
    sourceMatches(pattern: string): boolean {
      const match = picomatch(pattern, { dot: true });
      const base = picomatch.scan(pattern).base;
      const found = (rel: string): boolean => {
        let entries;
        try {
          entries = readdirSync(join(root, rel), { withFileTypes: true });
        } catch {
          // Not a directory: the static base names a file (a literal pattern), or nothing.
          return rel !== '' && existsSync(join(root, rel)) && match(rel);
        }
        for (const e of entries) {
          const p = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) {
            if (!NEVER_SOURCES.has(e.name) && found(p)) return true;
          } else if (match(p)) return true;
        }
        return false;
      };
      return found(base === '.' ? '' : base);
    },
  };
}
