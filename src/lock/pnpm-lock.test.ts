import { describe, expect, it } from 'vitest';
import { npmDependencyGraph, npmEntries } from './npm-lock.js';
import { parsePnpmLock, pnpmPackageId, pnpmTarballUrl } from './pnpm-lock.js';

const I = {
  bee: 'sha512-RuyCUcT7aG4/P0yPd75iNrOfvk21CVICrp9e0LuMF1g8PLNT87JjKIG6raS6RJ4hV4fKd8RZpTg4yJ1L3ng3+Q==',
  depA: 'sha512-Is4MLjU/DZRvq7iIrTMm5aM1wQfbcsS0dhcrn1dQ+waEU2Bqx9zXF08l1XEeCg70nti4Necd+DpLk/NDgqTmnw==',
  ms: 'sha512-g8aMGMqctJKBPNAppU5t/mipMbq4MhoJ/uB4fTECfxL7je/5sLwrFAdRg2UIDY/J8KUOWtfCK0BAsXSr65lkgA==',
};

// As pnpm 12 wrote it for a workspace (root + packages/a → b, dep-a; packages/b → ms).
const V9 = `lockfileVersion: '9.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .:
    devDependencies:
      '@sc/b':
        specifier: 1.0.0
        version: 1.0.0

  packages/a:
    dependencies:
      b:
        specifier: workspace:*
        version: link:../b
      dep-a:
        specifier: ^1.0.0
        version: 1.0.0

  packages/b:
    dependencies:
      ms:
        specifier: 2.1.3
        version: 2.1.3

packages:

  '@sc/b@1.0.0':
    resolution: {integrity: ${I.bee}}
    hasBin: true

  dep-a@1.0.0:
    resolution: {integrity: ${I.depA}}

  ms@2.1.3:
    resolution: {integrity: ${I.ms}}

snapshots:

  '@sc/b@1.0.0': {}

  dep-a@1.0.0:
    dependencies:
      ms: 2.1.3

  ms@2.1.3: {}
`;

// As pnpm 8.15.9 wrote it for the same workspace.
const V6 = `lockfileVersion: '6.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .:
    devDependencies:
      '@sc/b':
        specifier: 1.0.0
        version: 1.0.0

  packages/a:
    dependencies:
      b:
        specifier: workspace:*
        version: link:../b
      dep-a:
        specifier: ^1.0.0
        version: 1.0.0

  packages/b:
    dependencies:
      ms:
        specifier: 2.1.3
        version: 2.1.3

packages:

  /@sc/b@1.0.0:
    resolution: {integrity: ${I.bee}}
    hasBin: true
    dev: true

  /dep-a@1.0.0:
    resolution: {integrity: ${I.depA}}
    dependencies:
      ms: 2.1.3
    dev: false

  /ms@2.1.3:
    resolution: {integrity: ${I.ms}}
    dev: false
`;

// As pnpm 8.15.9 wrote it for a single project (no workspace): dependencies at the top level.
const V6_SINGLE = `lockfileVersion: '6.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

dependencies:
  dep-a:
    specifier: 1.0.0
    version: 1.0.0

packages:

  /dep-a@1.0.0:
    resolution: {integrity: ${I.depA}}
    dependencies:
      ms: 2.1.3
    dev: false

  /ms@2.1.3:
    resolution: {integrity: ${I.ms}}
    requiresBuild: true
    dev: false
`;

const REGISTRY = 'http://127.0.0.1:4873/';

describe('parsePnpmLock', () => {
  for (const [format, text] of [
    ['9.0', V9],
    ['6.0', V6],
  ] as const) {
    it(`reads a lockfileVersion ${format} workspace into one entry per package, with registry tarball URLs and edges`, () => {
      const lock = parsePnpmLock(text, 'pnpm-lock.yaml', REGISTRY);
      expect(lock.manager).toBe('pnpm');
      expect(lock.importers).toEqual(['.', 'packages/a', 'packages/b']);
      expect(npmEntries([lock])).toEqual([
        {
          name: '@sc/b',
          version: '1.0.0',
          resolved: 'http://127.0.0.1:4873/@sc/b/-/b-1.0.0.tgz',
          integrity: I.bee,
        },
        {
          name: 'dep-a',
          version: '1.0.0',
          resolved: 'http://127.0.0.1:4873/dep-a/-/dep-a-1.0.0.tgz',
          integrity: I.depA,
        },
        {
          name: 'ms',
          version: '2.1.3',
          resolved: 'http://127.0.0.1:4873/ms/-/ms-2.1.3.tgz',
          integrity: I.ms,
        },
      ]);
      expect(Object.fromEntries(npmDependencyGraph(lock))).toEqual({
        '@sc/b@1.0.0': [],
        'dep-a@1.0.0': ['ms@2.1.3'],
        'ms@2.1.3': [],
      });
    });
  }

  it('reads a single-project 6.0 lock (no importers) and its requiresBuild', () => {
    const lock = parsePnpmLock(V6_SINGLE, 'pnpm-lock.yaml');
    expect(lock.importers).toEqual(['.']);
    expect(lock.packages.map((p) => [p.name, p.resolved, p.hasInstallScript])).toEqual([
      ['dep-a', 'https://registry.npmjs.org/dep-a/-/dep-a-1.0.0.tgz', false],
      ['ms', 'https://registry.npmjs.org/ms/-/ms-2.1.3.tgz', true],
    ]);
  });

  it('follows peer-suffixed snapshots and aliases to the package they name', () => {
    const text = `lockfileVersion: '9.0'
importers:
  .:
    dependencies:
      react-dom:
        specifier: 18.2.0
        version: 18.2.0(react@18.2.0)
packages:
  react@18.2.0:
    resolution: {integrity: ${I.ms}}
  react-dom@18.2.0:
    resolution: {integrity: ${I.depA}}
    peerDependencies:
      react: ^18.2.0
  string-width@4.2.3:
    resolution: {integrity: ${I.bee}}
snapshots:
  react@18.2.0: {}
  react-dom@18.2.0(react@18.2.0):
    dependencies:
      react: 18.2.0
      string-width-cjs: string-width@4.2.3
  string-width@4.2.3: {}
`;
    const lock = parsePnpmLock(text, 'pnpm-lock.yaml');
    expect(npmDependencyGraph(lock).get('react-dom@18.2.0')).toEqual([
      'react@18.2.0',
      'string-width@4.2.3',
    ]);
  });

  it('names every package that cannot be installed offline or verified', () => {
    const text = `lockfileVersion: '9.0'
importers:
  .: {}
packages:
  local@1.0.0:
    resolution: {directory: ../local, type: directory}
  from-git@1.0.0:
    resolution: {type: git, repo: 'https://example.com/x.git', commit: abc}
  weak@1.0.0:
    resolution: {integrity: sha1-AAAA}
  ok@1.0.0:
    resolution: {integrity: ${I.ms}}
`;
    expect(() => parsePnpmLock(text, 'app/pnpm-lock.yaml')).toThrow(
      expect.objectContaining({
        code: 'NPM_LOCK_INCOMPLETE',
        message: expect.stringMatching(
          /^app\/pnpm-lock\.yaml: 3 package\(s\).*local@1\.0\.0 is resolved from directory.*from-git@1\.0\.0 is resolved from git.*weak@1\.0\.0 has no sha512 integrity$/,
        ),
        hint: expect.stringContaining('pnpm install --lockfile-only'),
      }),
    );
  });

  it('refuses a lockfile version it does not read, and text that is no YAML mapping', () => {
    expect(() => parsePnpmLock('lockfileVersion: 5.4\n', 'pnpm-lock.yaml')).toThrow(
      expect.objectContaining({
        code: 'NPM_LOCK_INVALID',
        message: expect.stringContaining('lockfileVersion 5.4 is not supported'),
      }),
    );
    expect(() => parsePnpmLock('- a\n- b\n', 'pnpm-lock.yaml')).toThrow(
      expect.objectContaining({ code: 'NPM_LOCK_INVALID' }),
    );
  });
});

describe('pnpm tarball URLs and ids', () => {
  it('derives the URL pnpm fetches, scope kept in the path and dropped from the file name', () => {
    expect(pnpmTarballUrl('https://r.example/npm', '@sc/b', '1.0.0')).toBe(
      'https://r.example/npm/@sc/b/-/b-1.0.0.tgz',
    );
    expect(pnpmPackageId('/@sc/b@1.0.0(react@18.2.0)')).toEqual({
      name: '@sc/b',
      version: '1.0.0',
    });
  });
});
