import { describe, expect, it } from 'vitest';
import { canonicalJson, isAirlockError } from '../core/index.js';
import { bwrapArgs, MERGED_USR_HOST, SANDBOX_PROFILE, type SandboxSpec } from './index.js';

const spec = (extra: Partial<SandboxSpec> = {}): SandboxSpec => ({
  workDir: '/host/work',
  inputs: [],
  tools: [],
  env: {},
  sourceDateEpoch: 1_700_000_000,
  command: 'make',
  ...extra,
});

/** The values following each occurrence of `flag`, as tuples of `arity` words. */
function occurrences(args: string[], flag: string, arity: number): string[][] {
  const end = args.indexOf('--');
  const found: string[][] = [];
  args.forEach((a, i) => {
    if (a === flag && i < end) found.push(args.slice(i + 1, i + 1 + arity));
  });
  return found;
}

function expectInvalid(fn: () => unknown): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isAirlockError(err, 'SANDBOX_INVALID_SPEC')).toBe(true);
}

describe('bwrapArgs', () => {
  it('unshares every namespace, drops capabilities and never shares the network', () => {
    const args = bwrapArgs(spec());
    for (const flag of [
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--die-with-parent',
      '--new-session',
      '--clearenv',
    ]) {
      expect(args).toContain(flag);
    }
    expect(occurrences(args, '--cap-drop', 1)).toEqual([['ALL']]);
    expect(args).not.toContain('--share-net');
    expect(args.some((a) => a.startsWith('--share'))).toBe(false);
  });

  it('runs the command with /bin/sh -c after umask 022, in /src', () => {
    const args = bwrapArgs(spec());
    expect(args.slice(args.indexOf('--'))).toEqual(['--', '/bin/sh', '-c', 'umask 022; make']);
    expect(occurrences(args, '--chdir', 1)).toEqual([['/src']]);
    expect(occurrences(args, '--bind', 2)).toEqual([['/host/work', '/src']]);
  });

  it('sets exactly the fixed environment plus the declared one, sorted by name', () => {
    const args = bwrapArgs(spec({ env: { ZED: '1', CC: 'gcc' } }));
    expect(occurrences(args, '--setenv', 2)).toEqual([
      ['CC', 'gcc'],
      ['HOME', '/home/build'],
      ['LANG', 'C.UTF-8'],
      ['LC_ALL', 'C.UTF-8'],
      ['PATH', '/opt/airlock/bin:/usr/local/bin:/usr/bin:/bin'],
      ['SOURCE_DATE_EPOCH', '1700000000'],
      ['TZ', 'UTC'],
      ['ZED', '1'],
    ]);
  });

  it('lets the variant add and override environment and choose the hostname', () => {
    const args = bwrapArgs(
      spec({
        hostname: 'one',
        variant: { hostname: 'two', extraEnv: { TZ: 'Pacific/Chatham', FAKETIME: '+3d' } },
      }),
    );
    const env = Object.fromEntries(occurrences(args, '--setenv', 2).map(([k, v]) => [k, v]));
    expect(env).toMatchObject({ TZ: 'Pacific/Chatham', FAKETIME: '+3d' });
    expect(occurrences(args, '--hostname', 1)).toEqual([['two']]);
    expect(occurrences(bwrapArgs(spec()), '--hostname', 1)).toEqual([['airlock']]);
  });

  it('mounts the host toolchain read-only and recreates merged-/usr symlinks', () => {
    const args = bwrapArgs(spec());
    expect(occurrences(args, '--ro-bind', 2)).toContainEqual(['/usr', '/usr']);
    expect(occurrences(args, '--symlink', 2)).toContainEqual(['usr/bin', '/bin']);
    expect(args).not.toContain('/etc/resolv.conf');
    expect(args).not.toContain('/run');
  });

  it('binds the synthetic /etc files when the host provides them', () => {
    const args = bwrapArgs(spec(), { ...MERGED_USR_HOST, syntheticEtcDir: '/tmp/etc-x' });
    const binds = occurrences(args, '--ro-bind', 2);
    for (const name of ['group', 'hosts', 'nsswitch.conf', 'passwd']) {
      expect(binds).toContainEqual([`/tmp/etc-x/${name}`, `/etc/${name}`]);
    }
  });

  it('links a launcher tool at /opt/airlock/bin/<name> to its path, bound with its package as an input', () => {
    const args = bwrapArgs(
      spec({
        tools: [{ name: 'pnpm', path: '/opt/pnpm/bin/pnpm.cjs', link: true }],
        inputs: [{ source: '/opt/pnpm', dest: '/opt/pnpm' }],
      }),
    );
    expect(occurrences(args, '--symlink', 2)).toContainEqual([
      '/opt/pnpm/bin/pnpm.cjs',
      '/opt/airlock/bin/pnpm',
    ]);
    expect(occurrences(args, '--ro-bind', 2)).toContainEqual(['/opt/pnpm', '/opt/pnpm']);
    expect(occurrences(args, '--ro-bind', 2)).not.toContainEqual([
      '/opt/pnpm/bin/pnpm.cjs',
      '/opt/airlock/bin/pnpm',
    ]);
  });

  it('binds tools at /opt/airlock/bin/<name> and inputs read-only below the work directory', () => {
    const args = bwrapArgs(
      spec({
        tools: [{ name: 'node', path: '/usr/bin/node' }],
        inputs: [
          { source: '/store/b', dest: 'deps/b' },
          { source: '/store/a', dest: '/opt/a' },
        ],
      }),
    );
    const binds = occurrences(args, '--ro-bind', 2);
    expect(binds).toContainEqual(['/usr/bin/node', '/opt/airlock/bin/node']);
    const inputBinds = binds.filter(([s]) => s!.startsWith('/store/'));
    expect(inputBinds).toEqual([
      ['/store/a', '/opt/a'],
      ['/store/b', '/src/deps/b'],
    ]);
  });

  it('reverses the input mount order for the reverseInputs variant', () => {
    const inputs = [
      { source: '/s/1', dest: 'a' },
      { source: '/s/2', dest: 'b' },
    ];
    const order = (s: SandboxSpec): string[] =>
      occurrences(bwrapArgs(s), '--ro-bind', 2)
        .filter(([src]) => src!.startsWith('/s/'))
        .map(([src]) => src!);
    expect(order(spec({ inputs }))).toEqual(['/s/1', '/s/2']);
    expect(order(spec({ inputs: [...inputs].reverse() }))).toEqual(['/s/1', '/s/2']);
    expect(order(spec({ inputs, variant: { reverseInputs: true } }))).toEqual(['/s/2', '/s/1']);
  });

  it('honours a custom workDest', () => {
    const args = bwrapArgs(spec({ workDest: '/build/x', inputs: [{ source: '/s', dest: 'in' }] }));
    expect(occurrences(args, '--chdir', 1)).toEqual([['/build/x']]);
    expect(occurrences(args, '--ro-bind', 2)).toContainEqual(['/s', '/build/x/in']);
  });

  describe('when the spec would weaken the sandbox', () => {
    it.each([
      ['a reserved env name', spec({ env: { PATH: '/evil' } })],
      ['a malformed env name', spec({ env: { 'A=B': 'x' } })],
      ['an input escaping with ..', spec({ inputs: [{ source: '/s', dest: '../x' }] })],
      ['an input over /usr', spec({ inputs: [{ source: '/s', dest: '/usr/lib/x' }] })],
      ['an input over /etc', spec({ inputs: [{ source: '/s', dest: '/etc' }] })],
      ['an input replacing /tmp', spec({ inputs: [{ source: '/s', dest: '/tmp' }] })],
      ['an input covering the work dir', spec({ inputs: [{ source: '/s', dest: '/' }] })],
      [
        'nested inputs',
        spec({
          inputs: [
            { source: '/s', dest: 'a' },
            { source: '/t', dest: 'a/b' },
          ],
        }),
      ],
      ['a tool name with a slash', spec({ tools: [{ name: '../sh', path: '/bin/sh' }] })],
      [
        'a duplicate tool',
        spec({
          tools: [
            { name: 'x', path: '/a' },
            { name: 'x', path: '/b' },
          ],
        }),
      ],
      ['a workDest of /', spec({ workDest: '/' })],
      ['a relative workDest', spec({ workDest: 'src' })],
      ['a bad hostname', spec({ hostname: 'a b' })],
      ['a fractional SOURCE_DATE_EPOCH', spec({ sourceDateEpoch: 1.5 })],
    ])('rejects %s with SANDBOX_INVALID_SPEC', (_name, bad) => {
      expectInvalid(() => bwrapArgs(bad));
    });
  });
});

describe('bwrapArgs with variant files in /etc (repro)', () => {
  it('binds each file read-only at /etc/<name>', () => {
    const args = bwrapArgs(
      spec({ variant: { etcFiles: [{ name: 'faketimerc', source: '/tmp/x/faketimerc' }] } }),
    );
    const i = args.indexOf('/tmp/x/faketimerc');
    expect(args.slice(i - 1, i + 2)).toEqual(['--ro-bind', '/tmp/x/faketimerc', '/etc/faketimerc']);
  });

  it('refuses a name that is not a plain file name in /etc', () => {
    expect(() =>
      bwrapArgs(spec({ variant: { etcFiles: [{ name: '../passwd', source: '/tmp/x' }] } })),
    ).toThrow(/not a plain file name/);
  });
});

describe('bwrapArgs with tmpfs size caps', () => {
  it('puts --size right before the /tmp and HOME tmpfs it caps', () => {
    const args = bwrapArgs(spec({ tmpfsBytes: { tmp: 1024, home: 2048 } }));
    const tmpfs = occurrences(args, '--tmpfs', 1).map(([path]) => path);
    expect(tmpfs).toEqual(['/tmp', '/home/build']);
    const at = (path: string): string[] => {
      const i = args.findIndex((a, j) => a === path && args[j - 1] === '--tmpfs');
      return args.slice(i - 3, i + 1);
    };
    expect(at('/tmp')).toEqual(['--size', '1024', '--tmpfs', '/tmp']);
    expect(at('/home/build')).toEqual(['--size', '2048', '--tmpfs', '/home/build']);
  });

  it('refuses a size that is not a positive whole number', () => {
    expectInvalid(() => bwrapArgs(spec({ tmpfsBytes: { tmp: 0 } })));
    expectInvalid(() => bwrapArgs(spec({ tmpfsBytes: { home: 1.5 } })));
  });
});

describe('SANDBOX_PROFILE', () => {
  it('is versioned canonical-JSON data naming the fixed paths and environment', () => {
    expect(SANDBOX_PROFILE.version).toMatch(/^airlock\.sandbox\/v\d+$/);
    const json = canonicalJson(SANDBOX_PROFILE);
    expect(JSON.parse(json)).toMatchObject({
      network: 'none',
      workDest: '/src',
      env: { TZ: 'UTC' },
    });
  });
});
