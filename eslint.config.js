// ESLint flat config: type-checked rules plus the module boundaries of docs/architecture.md.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const domainModules = [
  'config',
  'oci',
  'store',
  'archive',
  'sandbox',
  'lock',
  'build',
  'attest',
  'sign',
  'registry',
  'policy',
  'check',
  'deploy',
  'audit',
  'hash',
];

const upperLayers = ['cli', 'ui', 'pipeline'];

// Pure modules do no I/O.
const ioModules = ['node:fs', 'node:fs/promises', 'node:child_process', 'node:net', 'node:http'];

// oci/ is reached only through its index, from anywhere in src/.
const ociThroughIndex = {
  regex: '/oci/(?!index\\.js$)',
  message: 'Import oci/ only through src/oci/index.ts.',
};

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
  // core/ is pure: nothing outside itself, no I/O.
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['../*'], message: 'core/ imports nothing outside itself.' }],
          paths: ioModules.map((name) => ({ name, message: 'core/ does no I/O.' })),
        },
      ],
    },
  },
  // oci/ is the one OCI model: pure, and it imports only core/ (through its index).
  {
    files: ['src/oci/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./(?!core/index\\.js$)', message: 'oci/ imports only core/index.js.' },
          ],
          paths: ioModules.map((name) => ({ name, message: 'oci/ does no I/O.' })),
        },
      ],
    },
  },
  // Domain modules never reach up into cli/, ui/ or pipeline/.
  {
    files: domainModules.filter((m) => m !== 'oci').map((m) => `src/${m}/**/*.ts`),
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: upperLayers.map((m) => `**/${m}/*`),
              message:
                'A domain module never imports cli/, ui/ or pipeline/ (docs/architecture.md).',
            },
            ociThroughIndex,
          ],
        },
      ],
    },
  },
  // pipeline/ never imports cli/ or ui/.
  {
    files: ['src/pipeline/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/cli/*', '**/ui/*'], message: 'pipeline/ never imports cli/ or ui/.' },
            ociThroughIndex,
          ],
        },
      ],
    },
  },
  // cli/, ui/ and the package entry point also reach oci/ only through its index.
  {
    files: ['src/cli/**/*.ts', 'src/ui/**/*.ts', 'src/index.ts'],
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
