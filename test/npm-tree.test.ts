import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { treeDigest } from '../src/core/tree.js';
import { StatCache } from '../src/hash/stat-cache.js';
import { planNpmTree, type NpmTreePlan } from '../src/lock/index.js';
import { treeOf } from '../src/pipeline/npm-install.js';
import { NotReproducible, writeNpmTree } from '../src/pipeline/npm-tree.js';
import {
  describeTree,
  npmCacheWith,
  realNpmCi,
  sri,
  storeTarballs,
  tarballOf,
  type TarEntry,
} from './helpers/npm-tree.js';

const REG = 'http://127.0.0.1:9/';
const LINUX = { os: 'linux', cpu: 'x64', libc: 'glibc' };

interface Pkg {
  path: string;
  name: string;
  version: string;
  entries: TarEntry[];
  meta?: Record<string, unknown>;
}

/**
 * A project whose lock has nested node_modules, a scoped package, bins
 * (object, string, CRLF hashbang, 0644 in the tarball), odd modes, an empty
 * directory, links inside a tarball, a .gitignore, and a workspace with a bin.
 */
function fixturePackages(): Pkg[] {
  return [
    {
      path: 'node_modules/alpha',
      name: 'alpha',
      version: '1.0.0',
      meta: { bin: { alpha: 'bin/alpha.js' }, dependencies: { gamma: '^2.0.0' }, license: 'MIT' },
      entries: [
        {
          name: 'package/package.json',
          content: '{"name":"alpha","version":"1.0.0","bin":{"alpha":"bin/alpha.js"}}',
        },
        {
          name: 'package/bin/alpha.js',
          content: '#!/usr/bin/env node\nconsole.log("alpha")\n',
          mode: 0o644,
        },
        { name: 'package/lib/', type: 'directory', mode: 0o700 },
        { name: 'package/lib/run.sh', content: 'echo run\n', mode: 0o775 },
        { name: 'package/lib/private.txt', content: 'secret-ish\n', mode: 0o600 },
        { name: 'package/lib/odd.txt', content: 'odd\n', mode: 0o444 },
        { name: 'package/empty/', type: 'directory' },
        { name: 'package/lib/link.js', type: 'symlink', linkname: 'run.sh' },
        { name: 'package/.gitignore', content: 'node_modules\n' },
        { name: 'package/docs/.gitignore', content: 'a\n' },
        { name: 'package/docs/.npmignore', content: 'b\n' },
        // The same path twice: the later entry's bytes, the first entry's mode (tar rewrites the file in place).
        { name: 'package/lib/twice.txt', content: 'first\n', mode: 0o755 },
        { name: 'package/lib/twice.txt', content: 'second\n', mode: 0o644 },
        { name: 'package/lib/again.txt', content: 'first\n', mode: 0o644 },
        { name: 'package/lib/again.txt', content: 'second\n', mode: 0o755 },
      ],
    },
    {
      path: 'node_modules/alpha/node_modules/gamma',
      name: 'gamma',
      version: '2.0.0',
      meta: { bin: 'cli.js' },
      entries: [
        {
          name: 'package/package.json',
          content: '{"name":"gamma","version":"2.0.0","bin":"cli.js"}',
        },
        {
          name: 'package/cli.js',
          content: '#!/usr/bin/env node\r\nconsole.log("gamma 2")\r\n',
          mode: 0o644,
        },
      ],
    },
    {
      path: 'node_modules/gamma',
      name: 'gamma',
      version: '1.0.0',
      meta: { bin: { gamma: './cli.js' }, engines: { node: '>=18' } },
      entries: [
        { name: 'package/package.json', content: '{"name":"gamma","version":"1.0.0"}' },
        {
          name: 'package/cli.js',
          content: '#!/usr/bin/env node\nconsole.log("gamma 1")\n',
          mode: 0o755,
        },
      ],
    },
    {
      path: 'node_modules/@scope/beta',
      name: '@scope/beta',
      version: '3.1.0',
      meta: { bin: 'b.js', dev: true, dependencies: { alpha: '0.9.0' } },
      entries: [
        {
          name: 'pkg/package.json',
          content: '{"name":"@scope/beta","version":"3.1.0","bin":"b.js"}',
        },
        { name: 'pkg/b.js', content: '#!/bin/sh\necho beta\n', mode: 0o600 },
        { name: 'pkg/deep/a/b/c.txt', content: 'deep\n', mode: 0o664 },
      ],
    },
    {
      path: 'node_modules/@scope/beta/node_modules/alpha',
      name: 'alpha',
      version: '0.9.0',
      meta: { dev: true, bin: { 'alpha-old': 'old.js' } },
      entries: [
        { name: 'package/package.json', content: '{"name":"alpha","version":"0.9.0"}' },
        { name: 'package/old.js', content: 'old\n' },
      ],
    },
    {
      path: 'node_modules/nofiles',
      name: 'nofiles',
      version: '1.0.0',
      meta: { optional: true, os: ['linux', 'darwin'], bin: { missing: 'not-there.js' } },
      entries: [{ name: 'package/', type: 'directory' }],
    },
  ];
}

/** Writes the fixture project: package.json, package-lock.json, a workspace; returns its tarballs. */
async function writeFixture(dir: string, pkgs: Pkg[]): Promise<Buffer[]> {
  await mkdir(join(dir, 'packages', 'ws-a'), { recursive: true });
  await writeFile(
    join(dir, 'packages', 'ws-a', 'package.json'),
    JSON.stringify({ name: 'ws-a', version: '0.1.0', bin: { wsa: 'cli.js' } }, null, 2),
  );
  await writeFile(join(dir, 'packages', 'ws-a', 'cli.js'), '#!/usr/bin/env node\n', {
    mode: 0o644,
  });
  const pkgJson = {
    name: 'fixture',
    version: '1.0.0',
    workspaces: ['packages/*'],
    dependencies: { alpha: '^1.0.0', gamma: '^1.0.0' },
    optionalDependencies: { nofiles: '1.0.0' },
    devDependencies: { '@scope/beta': '3.1.0' },
  };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(pkgJson, null, 2)}\n`);
  const tarballs: Buffer[] = [];
  const packages: Record<string, unknown> = {
    '': {
      name: 'fixture',
      version: '1.0.0',
      workspaces: ['packages/*'],
      dependencies: pkgJson.dependencies,
      devDependencies: pkgJson.devDependencies,
      optionalDependencies: pkgJson.optionalDependencies,
    },
    'node_modules/ws-a': { resolved: 'packages/ws-a', link: true },
    'packages/ws-a': { version: '0.1.0', bin: { wsa: 'cli.js' } },
  };
  for (const p of pkgs) {
    const t = await tarballOf(p.entries);
    tarballs.push(t);
    const file = `${p.name.split('/').pop()!}-${p.version}.tgz`;
    packages[p.path] = {
      version: p.version,
      resolved: `${REG}${p.name}/-/${file}`,
      integrity: sri(t),
      ...p.meta,
    };
  }
  await writeFile(
    join(dir, 'package-lock.json'),
    `${JSON.stringify({ name: 'fixture', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
  return tarballs;
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-npm-tree-'));
});
afterAll(async () => {
  if (!process.env.KEEP) await rm(work, { recursive: true, force: true });
});

/** Plans and writes the tree for the project in `dir`; returns the plan and the streamed digest. */
async function writeOurs(
  dir: string,
  tarballs: Buffer[],
): Promise<{ plan: NpmTreePlan; digest: string }> {
  const stored = await storeTarballs(join(work, `blobs-${Math.random()}`), tarballs);
  const res = planNpmTree(
    await readFile(join(dir, 'package-lock.json'), 'utf8'),
    await readFile(join(dir, 'package.json'), 'utf8'),
    LINUX,
  );
  expect(res.unsupported).toEqual([]);
  const plan = res.plan!;
  const entries = await writeNpmTree({
    dir,
    plan,
    tarball: (i) => stored.get(i)!,
    verify: () => Promise.reject(new Error('corrupt')),
    sourceExists: (rel) =>
      readFile(join(dir, rel)).then(
        () => true,
        () => false,
      ),
  });
  return { plan, digest: treeDigest(entries) };
}

describe('the node_modules tree written from the store', () => {
  it('equals the tree of a real npm ci --offline file by file: paths, bytes, modes, bin links, workspace link, hidden lockfile', async () => {
    const pkgs = fixturePackages();
    const theirs = join(work, 'theirs');
    const ours = join(work, 'ours');
    await mkdir(theirs, { recursive: true });
    const tarballs = await writeFixture(theirs, pkgs);
    await cp(theirs, ours, { recursive: true });
    const cache = join(work, 'npm-cache');
    await npmCacheWith(cache, tarballs);
    await realNpmCi(theirs, cache);
    const { digest } = await writeOurs(ours, tarballs);

    const expected = await describeTree(join(theirs, 'node_modules'));
    expect(await describeTree(join(ours, 'node_modules'))).toEqual(expected);
    // The fixture exercises what it claims to.
    expect(expected).toEqual(
      expect.arrayContaining([
        'link .bin/alpha -> ../alpha/bin/alpha.js',
        'link alpha/node_modules/.bin/gamma -> ../gamma/cli.js',
        'link .bin/wsa -> ../ws-a/cli.js',
        'link ws-a -> ../packages/ws-a',
        expect.stringMatching(/^file alpha\/bin\/alpha\.js 755 /),
        expect.stringMatching(/^file @scope\/beta\/b\.js 755 /),
        expect.stringMatching(/^file alpha\/lib\/private\.txt 644 /),
        expect.stringMatching(/^file \.package-lock\.json 644 /),
        expect.stringMatching(/^file alpha\/lib\/twice\.txt 755 /),
        expect.stringMatching(/^file alpha\/lib\/again\.txt 644 /),
      ]),
    );
    expect(await readFile(join(ours, 'node_modules', 'alpha', 'lib', 'twice.txt'), 'utf8')).toBe(
      'second\n',
    );
    // The digest computed while writing is the digest of the tree on disk.
    expect(digest).toBe(await treeOf(join(ours, 'node_modules'), StatCache.memory()));
    expect(await treeOf(join(theirs, 'node_modules'), StatCache.memory())).toBe(digest);
  }, 120_000);

  it('the comparison catches a bin link or a mode that differs', async () => {
    const pkgs = fixturePackages();
    const a = join(work, 'cmp-a');
    await mkdir(a, { recursive: true });
    const tarballs = await writeFixture(a, pkgs);
    const b = join(work, 'cmp-b');
    await cp(a, b, { recursive: true });
    await writeOurs(a, tarballs);
    await writeOurs(b, tarballs);
    expect(await describeTree(join(b, 'node_modules'))).toEqual(
      await describeTree(join(a, 'node_modules')),
    );
    await chmod(join(b, 'node_modules', 'alpha', 'lib', 'private.txt'), 0o600);
    expect(await describeTree(join(b, 'node_modules'))).not.toEqual(
      await describeTree(join(a, 'node_modules')),
    );
    await chmod(join(b, 'node_modules', 'alpha', 'lib', 'private.txt'), 0o644);
    await unlink(join(b, 'node_modules', '.bin', 'gamma'));
    expect(await describeTree(join(b, 'node_modules'))).not.toEqual(
      await describeTree(join(a, 'node_modules')),
    );
  }, 60_000);

  it('writes the same modes under a stricter umask than 022', async () => {
    const pkgs = fixturePackages();
    const a = join(work, 'umask-a');
    await mkdir(a, { recursive: true });
    const tarballs = await writeFixture(a, pkgs);
    const b = join(work, 'umask-b');
    await cp(a, b, { recursive: true });
    await writeOurs(a, tarballs);
    const before = process.umask(0o077);
    try {
      await writeOurs(b, tarballs);
    } finally {
      process.umask(before);
    }
    const files = (await describeTree(join(b, 'node_modules'))).filter((l) => l.startsWith('file'));
    expect(files).toEqual(
      (await describeTree(join(a, 'node_modules'))).filter((l) => l.startsWith('file')),
    );
    expect(files).toEqual(
      expect.arrayContaining([expect.stringMatching(/^file alpha\/lib\/private\.txt 644 /)]),
    );
  }, 60_000);

  /** A one-package project whose tarball holds `entries`. */
  async function onePackage(
    name: string,
    entries: TarEntry[],
  ): Promise<{ dir: string; tarball: Buffer }> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    const tarball = await tarballOf(entries);
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'one', version: '1.0.0', dependencies: { x: '1.0.0' } }, null, 2),
    );
    await writeFile(
      join(dir, 'package-lock.json'),
      JSON.stringify(
        {
          name: 'one',
          version: '1.0.0',
          lockfileVersion: 3,
          requires: true,
          packages: {
            '': { name: 'one', version: '1.0.0', dependencies: { x: '1.0.0' } },
            'node_modules/x': {
              version: '1.0.0',
              resolved: `${REG}x/-/x-1.0.0.tgz`,
              integrity: sri(tarball),
            },
          },
        },
        null,
        2,
      ),
    );
    return { dir, tarball };
  }

  it('refuses to guess: a tarball entry climbing out with ".." is left to npm, and nothing is written outside node_modules', async () => {
    const { dir, tarball } = await onePackage('climb', [
      { name: 'package/package.json', content: '{}' },
      { name: 'package/../../../escaped.txt', content: 'x' },
    ]);
    await expect(writeOurs(dir, [tarball])).rejects.toBeInstanceOf(NotReproducible);
    await expect(readFile(join(dir, 'escaped.txt'))).rejects.toThrow();
    await expect(readFile(join(work, 'escaped.txt'))).rejects.toThrow();
  });

  it('checks each tarball against its sha256 while unpacking it', async () => {
    const { dir, tarball } = await onePackage('corrupt', [
      { name: 'package/package.json', content: '{}' },
    ]);
    const stored = await storeTarballs(join(work, 'corrupt-blobs'), [tarball]);
    const entry = [...stored.values()][0]!;
    await writeFile(entry.path, Buffer.concat([tarball, Buffer.from('trailing junk')]));
    const res = planNpmTree(
      await readFile(join(dir, 'package-lock.json'), 'utf8'),
      await readFile(join(dir, 'package.json'), 'utf8'),
      LINUX,
    );
    let corrupt = '';
    await expect(
      writeNpmTree({
        dir,
        plan: res.plan!,
        tarball: () => entry,
        verify: (t) => {
          corrupt = t.sha256;
          return Promise.reject(new Error('quarantined'));
        },
        sourceExists: () => Promise.resolve(false),
      }),
    ).rejects.toThrow('quarantined');
    expect(corrupt).toBe(entry.sha256);
  });

  it('leaves a tarball whose file is also a directory of another entry to npm', async () => {
    const { dir, tarball } = await onePackage('file-and-dir', [
      { name: 'package/package.json', content: '{}' },
      { name: 'package/lib', content: 'a file\n' },
      { name: 'package/lib/index.js', content: 'a file inside it\n' },
    ]);
    const err = await writeOurs(dir, [tarball]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotReproducible);
    expect((err as NotReproducible).reason).toContain('x/lib clashes with another entry');
  });

  it('has written every file it started when it fails on a later tarball: nothing is still being written', async () => {
    const dir = join(work, 'settles');
    await mkdir(dir, { recursive: true });
    const count = 40;
    const deps = Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, '1.0.0']));
    const tarballs: Buffer[] = [];
    const packages: Record<string, unknown> = {
      '': { name: 'many', version: '1.0.0', dependencies: deps },
    };
    for (let i = 0; i < count; i++) {
      const t = await tarballOf([
        { name: 'package/package.json', content: `{"name":"p${i}"}` },
        { name: `package/lib/deep/${i}/index.js`, content: `module.exports = ${i};\n` },
        { name: 'package/README.md', content: 'x'.repeat(20_000) },
      ]);
      tarballs.push(t);
      packages[`node_modules/p${i}`] = {
        version: '1.0.0',
        resolved: `${REG}p${i}/-/p${i}-1.0.0.tgz`,
        integrity: sri(t),
      };
    }
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'many', dependencies: deps }),
    );
    await writeFile(
      join(dir, 'package-lock.json'),
      JSON.stringify({ name: 'many', lockfileVersion: 3, requires: true, packages }),
    );
    const stored = await storeTarballs(join(work, 'settles-blobs'), tarballs);
    const last = stored.get(sri(tarballs[count - 1]!))!;
    await writeFile(last.path, 'not the tarball');
    const res = planNpmTree(
      await readFile(join(dir, 'package-lock.json'), 'utf8'),
      await readFile(join(dir, 'package.json'), 'utf8'),
      LINUX,
    );
    await expect(
      writeNpmTree({
        dir,
        plan: res.plan!,
        tarball: (i) => stored.get(i)!,
        verify: () => Promise.reject(new Error('quarantined')),
        sourceExists: () => Promise.resolve(false),
      }),
    ).rejects.toThrow('quarantined');
    // Checked before anything else runs: every earlier package is complete on disk.
    for (let i = 0; i < count - 1; i++) {
      const pkg = join(dir, 'node_modules', `p${i}`);
      expect(readFileSync(join(pkg, 'lib', 'deep', String(i), 'index.js'), 'utf8')).toBe(
        `module.exports = ${i};\n`,
      );
      expect(readFileSync(join(pkg, 'README.md'), 'utf8')).toHaveLength(20_000);
    }
    expect(existsSync(join(dir, 'node_modules', `p${count - 1}`))).toBe(false);
  });
});
