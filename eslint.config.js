// ESLint flat config: type-checked rules plus the module boundaries of docs/architecture.md.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/*
 * Which module of src/ may import which (docs/architecture.md draws the same
 * map). Data flows one way: cli/ → pipeline/ → domain modules → core/. A new
 * module gets a line here when it is created.
 */
const mayImport = {
  core: [],
  oci: ['core'],
  archive: ['core'],
  hash: ['core'],
  sandbox: ['core'],
  check: ['core', 'lock'],
  daemon: ['core', 'hash'],
  attest: ['core', 'oci'],
  policy: ['core', 'attest'],
  sign: ['core', 'oci', 'attest'],
  store: ['core', 'oci'],
  registry: ['core', 'oci', 'archive'],
  config: ['core', 'registry'],
  lock: ['core', 'registry'],
  audit: ['core', 'store'],
  builder: ['core', 'oci', 'archive', 'config', 'hash', 'sandbox', 'store', 'registry'],
  deploy: ['core', 'oci', 'config'],
  pipeline: [
    'core',
    'oci',
    'archive',
    'hash',
    'sandbox',
    'check',
    'attest',
    'policy',
    'sign',
    'store',
    'registry',
    'config',
    'builder',
    'lock',
    'audit',
    'deploy',
  ],
};
// ui/ (the dashboard server) reads through pipeline/'s use-cases, like cli/.
mayImport.ui = ['core', 'store', 'pipeline'];
// cli/ may import pipeline/ and everything pipeline/ may, ui/ to start the dashboard, and daemon/ to serve builds.
mayImport.cli = [...mayImport.pipeline, 'pipeline', 'ui', 'daemon'];
const modules = Object.keys(mayImport);

// Pure modules do no I/O.
const pureModules = ['core', 'oci', 'attest', 'policy'];
const ioModules = ['node:fs', 'node:fs/promises', 'node:child_process', 'node:net', 'node:http'];

// oci/ is reached only through its index, from anywhere else in src/.
const ociThroughIndex = {
  regex: '/oci/(?!index\\.js$)',
  message: 'Import oci/ only through src/oci/index.ts.',
};

/** The import rule of module `m`: no module outside its list, oci/ only through its index. */
function boundaries(m) {
  const allowed = mayImport[m];
  const forbidden = modules.filter((x) => x !== m && !allowed.includes(x));
  const patterns = [
    {
      regex: `^(?:\\.\\./)+(?:${forbidden.join('|')})(?:/|$)`,
      message: `${m}/ may import only ${allowed.length ? allowed.map((x) => `${x}/`).join(', ') : 'itself'} (docs/architecture.md).`,
    },
  ];
  if (m !== 'oci') patterns.push(ociThroughIndex);
  return {
    files: [`src/${m}/**/*.ts`],
    // Unit tests beside the code may wire in real neighbours (a Store, a registry client).
    ignores: ['src/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns,
          ...(pureModules.includes(m)
            ? { paths: ioModules.map((name) => ({ name, message: `${m}/ does no I/O.` })) }
            : {}),
        },
      ],
    },
  };
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'examples/**',
      '.bench/**',
      'test/fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: globals.node,
    },
  },
  // The dashboard's pages run in the browser.
  {
    files: ['src/ui/client/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  // The module map: each module imports only the modules listed for it.
  ...Object.keys(mayImport).map(boundaries),
  // The package entry point also reaches oci/ only through its index.
  {
    files: ['src/index.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [ociThroughIndex] }] },
  },
  // Only cli/ prints; tests and benchmarks may.
  {
    files: ['src/cli/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
