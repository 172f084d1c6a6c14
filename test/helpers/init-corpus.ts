// The init corpus: real-shaped projects under test/fixtures/init/ and what
// the airlock.yaml that `airlock init` writes for each must say.
import { fileURLToPath } from 'node:url';

export const CORPUS = fileURLToPath(new URL('../fixtures/init/', import.meta.url));

/** What each project's generated config must say (read from the project's own files, not guessed). */
export const EXPECT: Record<string, RegExp[]> = {
  'cli-bin': [
    /sources: \["package\.json", "lib\/\*\*", "bin\/\*\*", "test\/\*\*"\]/,
    /- "npm test"/,
    /outputs: \["out\/\*\.tgz"\]/,
  ],
  'js-lib-build': [/"\.npmrc"/, /- "npm run build"/, /"src\/\*\*", "scripts\/\*\*"/],
  'c-make': [
    /sources: \["Makefile", "\*\*\/\*\.c", "\*\*\/\*\.h"\]/,
    /- "make test"/,
    /outputs: \["hello"\]/,
  ],
  'c-make-builddir': [/outputs: \["build\/\*\*"\]/],
  'python-src': [
    /PYTHONPATH=src python3 -m unittest discover -s tests -t \./,
    /outputs: \["out\/textstats\.zip"\]/,
  ],
  'python-flat': [
    /sources: \["pyproject\.toml", "wordcount\/\*\*\/\*\.py", "test\/\*\*\/\*\.py"\]/,
  ],
};

/**
 * npm projects: their package-lock.json is written against the test's
 * registry (its port changes each run), and the build installs it offline.
 */
export const NPM_EXPECT: Record<string, RegExp[]> = {
  'ts-lib': [
    /npm: \{ lockfile: package-lock\.json \}/,
    /sources: \["package\.json", "package-lock\.json", "tsconfig\.json", "src\/\*\*", "test\/\*\*"\]/,
    /- "npm run build"/,
    /outputs: \["build\/\*\*"\]/,
  ],
  'express-views': [
    /npm: \{ lockfile: package-lock\.json \}/,
    /"server\.js", "test\/\*\*", "views\/\*\*", "public\/\*\*"/,
    /outputs: \["out\/\*\.tgz"\]/,
  ],
};

/** pnpm workspaces: pnpm-lock.yaml written by pnpm against the test's registry, installed offline by pnpm. */
export const PNPM_EXPECT: Record<string, RegExp[]> = {
  'pnpm-workspace': [
    /npm: \{ lockfile: pnpm-lock\.yaml \}/,
    /sources: \["package\.json", "pnpm-lock\.yaml", "pnpm-workspace\.yaml", "\.npmrc", "test\/\*\*", "packages\/\*\/\*\*"\]/,
    /exclude: \["\*\*\/node_modules\/\*\*"\]/,
    /toolchain: \{ host: \[node, pnpm\] \}/,
    /env: \{ pnpm_config_verify_deps_before_run: "false" \}/,
    /- "pnpm run build"/,
    /- "pnpm test"/,
  ],
};
