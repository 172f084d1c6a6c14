import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import picomatch from 'picomatch';
import {
  classifyPath,
  referencedScripts,
  type CheckErrorCode,
  type SourceFile,
} from '../check/index.js';
import { compareBytes } from '../core/compare.js';
import { AirlockError, errnoCode } from '../core/errors.js';

/** Directories `check` never descends into: dependencies, VCS data and build outputs. */
const SKIP_DIRS = new Set([
  '.git',
  'node_modules',
  'dist',
  'coverage',
  '.bench',
  '.cache',
  '.venv',
  'venv',
  '__pycache__',
  'target',
  'vendor',
]);

/** Largest file `check` reads; bigger ones (generated bundles) are skipped. */
const MAX_BYTES = 8 * 1024 * 1024;

/** The files at the repository root whose patterns `check` skips: git's, then Airlock's own. */
export const IGNORE_FILES = ['.gitignore', '.airlockignore'] as const;

/** A compiled ignore list: gitignore syntax (`#` comments, `!` negation, trailing `/` for directories, leading `/` anchors). */
type IgnoreRule = { negate: boolean; dirOnly: boolean; match: (path: string) => boolean };

/** Compiles gitignore-syntax lines into rules tested in order (the last match wins). */
export function compileIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.replace(/\r$/, '').replace(/(?<!\\)\s+$/, '');
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1);
    const dirOnly = line.endsWith('/');
    if (dirOnly) line = line.slice(0, -1);
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    if (!line) continue;
    const glob = anchored ? line : `**/${line}`;
    rules.push({ negate, dirOnly, match: picomatch(glob, { dot: true }) });
  }
  return rules;
}

/** True when the last rule matching `path` (a directory when `dir`) ignores it. */
function ignored(rules: readonly IgnoreRule[], path: string, dir: boolean): boolean {
  let out = false;
  for (const r of rules) if ((dir || !r.dirOnly) && r.match(path)) out = !r.negate;
  return out;
}

/** Reads the root ignore files; a missing one ignores nothing. */
async function readIgnore(root: string): Promise<IgnoreRule[]> {
  const rules: IgnoreRule[] = [];
  for (const name of IGNORE_FILES) {
    try {
      rules.push(...compileIgnore(await readFile(join(root, name), 'utf8')));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return rules;
}

/**
 * Every file under `root` as root-relative POSIX paths, byte-sorted, skipping
 * SKIP_DIRS and whatever the root's `.gitignore` and `.airlockignore` ignore
 * (a directory of deliberately bad test fixtures, generated files).
 */
export async function listFiles(root: string): Promise<string[]> {
  const rules = await readIgnore(root);
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    await Promise.all(
      entries.map(async (e) => {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!SKIP_DIRS.has(e.name) && !ignored(rules, p, true)) await walk(join(dir, e.name), p);
        } else if (e.isFile() && !ignored(rules, p, false)) out.push(p);
      }),
    );
  };
  await walk(root, '');
  return out.sort(compareBytes);
}

/** Resolves and validates the root directory a command works on. */
export async function checkRoot(path: string | undefined): Promise<string> {
  const root = resolve(path ?? '.');
  try {
    const s = await stat(root);
    if (!s.isDirectory())
      throw new AirlockError<CheckErrorCode>('CHECK_ROOT_NOT_FOUND', `${root} is not a directory`, {
        hint: 'Pass the repository directory, e.g. `airlock check .`.',
        details: { path: root },
      });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      throw new AirlockError<CheckErrorCode>('CHECK_ROOT_NOT_FOUND', `${root} does not exist`, {
        hint: 'Pass an existing repository directory.',
        details: { path: root },
        cause: err,
      });
    }
    throw err;
  }
  return root;
}

async function readText(root: string, paths: string[]): Promise<SourceFile[]> {
  const files = await Promise.all(
    paths.map(async (p) => {
      const abs = join(root, ...p.split('/'));
      const s = await stat(abs);
      if (s.size > MAX_BYTES) return undefined;
      return { path: p, text: await readFile(abs, 'utf8') };
    }),
  );
  return files.filter((f): f is SourceFile => f !== undefined);
}

/** Reads every file a rule looks at: classified files, lockfile neighbours and the scripts build steps run. */
export async function readRepository(
  root: string,
): Promise<{ paths: string[]; files: SourceFile[] }> {
  const paths = await listFiles(root);
  const files = await readText(
    root,
    paths.filter(
      (p) => classifyPath(p) !== undefined || p === 'airlock.lock' || p.endsWith('/airlock.lock'),
    ),
  );
  const scripts = referencedScripts(files, new Set(paths)).filter(
    (p) => !files.some((f) => f.path === p),
  );
  files.push(...(await readText(root, scripts)));
  return { paths, files };
}
