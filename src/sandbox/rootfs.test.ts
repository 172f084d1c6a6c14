import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toolchainEntries, writeRoot } from '../../test/helpers/rootfs.js';
import { useTempDir } from '../../test/helpers/sandbox.js';
import { isAirlockError } from '../core/index.js';
import {
  bwrapArgs,
  readRootfsLayout,
  runInSandbox,
  SANDBOX_PROFILE,
  sandboxProfile,
  type RootfsLayout,
  type SandboxSpec,
} from './index.js';

const LAYOUT: RootfsLayout = {
  path: '/roots/abc',
  top: [
    { name: 'bin', kind: 'symlink', target: 'usr/bin' },
    { name: 'dev', kind: 'dir' },
    { name: 'etc', kind: 'dir' },
    { name: 'home', kind: 'dir' },
    { name: 'proc', kind: 'dir' },
    { name: 'src', kind: 'dir' },
    { name: 'tmp', kind: 'dir' },
    { name: 'usr', kind: 'dir' },
  ],
  etc: [
    { name: 'os-release', kind: 'file' },
    { name: 'passwd', kind: 'file' },
    { name: 'localtime', kind: 'symlink', target: '../usr/share/zoneinfo/UTC' },
  ],
};

const spec = (extra: Partial<SandboxSpec> = {}): SandboxSpec => ({
  workDir: '/host/work',
  inputs: [],
  tools: [],
  env: {},
  sourceDateEpoch: 1_700_000_000,
  command: 'make',
  rootfs: '/roots/abc',
  ...extra,
});

/** The `--ro-bind` and `--symlink` pairs before the command. */
function mounts(args: string[]): string[] {
  const end = args.indexOf('--');
  const out: string[] = [];
  args.forEach((a, i) => {
    if (i < end && (a === '--ro-bind' || a === '--symlink'))
      out.push(`${a} ${args[i + 1]!} ${args[i + 2]!}`);
  });
  return out;
}

describe('bwrapArgs with an image root', () => {
  const host = {
    rootDirs: ['/usr'],
    rootLinks: [{ path: '/bin', target: 'usr/bin' }],
    hostEtc: ['/etc/ld.so.cache'],
    syntheticEtcDir: '/synthetic',
  };

  it('binds the image entries read-only at / and nothing of the host toolchain', () => {
    const m = mounts(bwrapArgs(spec(), host, LAYOUT));
    expect(m).toContain('--ro-bind /roots/abc/usr /usr');
    expect(m).toContain('--symlink usr/bin /bin');
    expect(m).toContain('--ro-bind /roots/abc/etc/os-release /etc/os-release');
    expect(m).toContain('--symlink ../usr/share/zoneinfo/UTC /etc/localtime');
    expect(m).not.toContain('--ro-bind /usr /usr');
    expect(m).not.toContain('--ro-bind /etc/ld.so.cache /etc/ld.so.cache');
  });

  it('replaces /proc, /dev, /tmp, /home and the work directory with fresh mounts', () => {
    const m = mounts(bwrapArgs(spec(), host, LAYOUT)).join('\n');
    for (const name of ['dev', 'home', 'proc', 'src', 'tmp'])
      expect(m).not.toContain(`/roots/abc/${name} `);
  });

  it('keeps the synthetic passwd over the image one and adds no tools directory', () => {
    const args = bwrapArgs(spec(), host, LAYOUT);
    expect(mounts(args)).toContain('--ro-bind /synthetic/passwd /etc/passwd');
    expect(mounts(args)).not.toContain('--ro-bind /roots/abc/etc/passwd /etc/passwd');
    expect(args).not.toContain(SANDBOX_PROFILE.toolsDir);
  });

  it('refuses host tools, and a rootfs whose layout was not read', () => {
    const refused = (fn: () => unknown): boolean => {
      try {
        fn();
        return false;
      } catch (err) {
        return isAirlockError(err, 'SANDBOX_INVALID_SPEC');
      }
    };
    expect(
      refused(() => bwrapArgs(spec({ tools: [{ name: 'node', path: '/n' }] }), host, LAYOUT)),
    ).toBe(true);
    expect(refused(() => bwrapArgs(spec(), host))).toBe(true);
  });

  it('records the mode in the profile that goes into action keys', () => {
    expect(sandboxProfile('host')).toBe(SANDBOX_PROFILE);
    const image = sandboxProfile('image') as Record<string, unknown>;
    expect(image['rootfs']).toBe('image-read-only');
    expect(image['hostToolchain']).toBe('none');
    expect(image['version']).toBe(SANDBOX_PROFILE.version);
  });
});

describe('runInSandbox with a busybox image root', () => {
  const tmp = useTempDir('rootfs');

  const run = async (command: string): Promise<{ code: number; out: string }> => {
    const root = join(tmp.path, 'root');
    const work = join(tmp.path, 'work');
    const r = await runInSandbox(spec({ workDir: work, rootfs: root, command }));
    return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
  };

  it('runs the image shell, sees the image and not the host', async () => {
    writeRoot(join(tmp.path, 'root'), toolchainEntries({ osRelease: 'ID=airlock-test\n' }));
    mkdirSync(join(tmp.path, 'work'));
    writeFileSync(join(tmp.path, 'work', 'in.txt'), 'input\n');
    const r = await run(
      'cat /etc/os-release; test ! -e /usr/bin/gcc && test ! -e /usr/bin/bwrap && echo no-host; cat in.txt; echo out > out.txt; id -u',
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('ID=airlock-test');
    expect(r.out).toContain('no-host');
    expect(r.out).toContain('input');
    expect(r.out).toContain('1000');
    expect(readFileSync(join(tmp.path, 'work', 'out.txt'), 'utf8')).toBe('out\n');
  });

  it('keeps the image read-only and /tmp writable', async () => {
    const r = await run(
      'touch /usr/bin/x 2>/dev/null && echo wrote-image; touch /tmp/x && echo tmp-ok',
    );
    expect(r.out).not.toContain('wrote-image');
    expect(r.out).toContain('tmp-ok');
  });

  it('reads the layout of a root, sorted, with link targets', async () => {
    const layout = await readRootfsLayout(join(tmp.path, 'root'));
    expect(layout.top.map((e) => e.name)).toEqual(['bin', 'etc', 'lib', 'usr']);
    expect(layout.top[0]).toEqual({ name: 'bin', kind: 'symlink', target: 'usr/bin' });
    expect(layout.etc).toEqual([{ name: 'os-release', kind: 'file' }]);
    await expect(readRootfsLayout(join(tmp.path, 'nope'))).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_SPEC',
    });
  });
});
