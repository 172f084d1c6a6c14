// The escape suite: for every class of sandbox escape Airlock closes, plant
// bait on the host, run a real `airlock build` whose step tries to reach it,
// and check the host side afterwards. Each class is one real build.
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import {
  chmodSync,
  closeSync,
  constants as fsc,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli, tempDir } from './helpers/cli.js';
import { storeBlobTexts, writeProject } from './helpers/e2e.js';
import {
  shq,
  startAbstractServer,
  startTcpServer,
  startUdpServer,
  token,
} from './helpers/sandbox.js';

interface Built {
  status: number;
  stdout: string;
  stderr: string;
}

const root = tempDir('escape-suite');
afterAll(() => root.cleanup());
const store = join(root.path, 'store');
let projects = 0;

/** A project of one target `t` running `steps` (sh) with `sources` globs and `extra` target keys. */
function project(
  steps: string[],
  files: Record<string, string> = { 'src/a.txt': 'a\n' },
  extra: string[] = [],
): string {
  const dir = join(root.path, `p${++projects}`);
  return writeProject(
    dir,
    [
      'version: 1',
      'name: bait',
      'sourceDateEpoch: 1700000000',
      'targets:',
      '  t:',
      '    sources: ["src/**"]',
      '    toolchain: { host: [node, perl] }',
      `    steps: ${JSON.stringify(steps)}`,
      '    outputs: ["out/**"]',
      ...extra.map((l) => `    ${l}`),
      '',
    ].join('\n'),
    files,
  );
}

/**
 * Runs `airlock build` on `dir` as its own process through bash, so the caller
 * can prefix redirections (`exec 200</`) and env: for what the calling
 * process holds (descriptors, environment).
 */
function spawnBuild(dir: string, opts: { prefix?: string; env?: NodeJS.ProcessEnv } = {}): Built {
  const cmd = `${opts.prefix ?? ''} exec ${shq(process.execPath)} ${shq(CLI)} --store ${shq(store)} build --no-cache -C ${shq(dir)}`;
  const r = spawnSync('/bin/bash', ['-c', cmd], {
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...opts.env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `out/<name>` of a built project. */
const out = (dir: string, name: string): string => readFileSync(join(dir, 'out', name), 'utf8');

/** A shell function printing `name:yes` when the command succeeds and `name:no` when it fails. */
const CHECK =
  'check() { if (eval "$2") >/dev/null 2>&1; then echo "$1:yes"; else echo "$1:no"; fi; }; ';

describe('escape suite: descriptors inherited from whoever runs airlock', () => {
  it('reach nothing: a directory fd and a writable file fd held by the caller are closed before the step', () => {
    const bait = join(root.path, 'fd-bait');
    mkdirSync(bait);
    writeFileSync(join(bait, 'secret'), `secret-${token()}\n`);
    const log = join(root.path, 'fd-bait.log');
    writeFileSync(log, '');
    const dir = project([
      `mkdir -p out; ${CHECK} check dirfd "cat /proc/self/fd/200/secret"; check dirwrite "touch /proc/self/fd/200/pwned"; check filefd "echo leaked >&201"; ls /proc/self/fd > out/fds; readlink /proc/self/fd/0 > out/stdin; true > out/x`,
    ]);
    const r = spawnBuild(dir, { prefix: `exec 200<${shq(bait)} 201>>${shq(log)};` });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('dirfd:no');
    expect(r.stderr).toContain('dirwrite:no');
    expect(r.stderr).toContain('filefd:no');
    // Only stdin/stdout/stderr and `ls`'s own directory descriptor.
    expect(out(dir, 'fds').trim().split('\n')).toEqual(['0', '1', '2', '3']);
    expect(out(dir, 'stdin').trim()).toBe('/dev/null');
    expect(existsSync(join(bait, 'pwned'))).toBe(false);
    expect(readFileSync(log, 'utf8')).toBe('');
  });
});

describe('escape suite: sockets and FIFOs inside a declared source directory', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  it('are never visible: the socket gets no connection and the FIFO no byte', async () => {
    const dir = project([
      `mkdir -p out; ls -A src > out/listing; ${CHECK} check socket "test -S src/agent.sock"; check fifo "test -p src/pipe"; check connect "node -e \\"require('net').connect('src/agent.sock').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))\\""; check write "test -p src/pipe && echo pwned > src/pipe"`,
    ]);
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(join(dir, 'src', 'agent.sock'), resolve));
    expect(spawnSync('mkfifo', [join(dir, 'src', 'pipe')]).status).toBe(0);
    // The host end of the FIFO stays open for reading, so a write from the step would land.
    const reader = openSync(join(dir, 'src', 'pipe'), fsc.O_RDONLY | fsc.O_NONBLOCK);
    try {
      const r = await build(dir);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain('socket:no');
      expect(r.stderr).toContain('fifo:no');
      expect(r.stderr).toContain('connect:no');
      expect(out(dir, 'listing')).toBe('a.txt\n');
      expect(connections).toBe(0);
      const buf = Buffer.alloc(64);
      let got = 0;
      try {
        got = readSync(reader, buf, 0, 64, null);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('EAGAIN');
      }
      expect(buf.subarray(0, got).toString()).toBe('');
    } finally {
      closeSync(reader);
    }
  });
});

/** `airlock build` on `dir` in this worker (`runCli`): the sandbox is what is under test, not the process. */
function build(dir: string): Promise<Built> {
  return runCli(['--store', store, 'build', '--no-cache', '-C', dir]);
}

/** Every file and directory below `dir` whose mode has setuid, setgid, sticky or group/world write. */
function loosePaths(dir: string): string[] {
  const found: string[] = [];
  const walk = (p: string): void => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o7022) !== 0) found.push(`${p} ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
  return found;
}

describe('escape suite: setuid, setgid and world-writable outputs', () => {
  it('are never kept: store trees, extracted dependencies and restored files are 0644/0755', async () => {
    const dir = writeProject(
      join(root.path, 'modes'),
      [
        'version: 1',
        'name: modes',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  lib:',
        '    sources: ["src/**"]',
        '    steps: ["mkdir -p out/bin && cp /bin/true out/bin/suid && chmod 4755 out/bin/suid && echo x > out/bin/ww && chmod 0666 out/bin/ww && chmod 3777 out/bin"]',
        '    outputs: ["out/**"]',
        '  app:',
        '    sources: ["src/**"]',
        '    deps: [{ target: lib, path: dep }]',
        '    steps: ["mkdir -p res && stat -c \'%a %n\' dep/out/bin dep/out/bin/suid dep/out/bin/ww > res/modes"]',
        '    outputs: ["res/**"]',
        '',
      ].join('\n'),
      { 'src/a.txt': 'a\n' },
    );
    const r = await build(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('out/bin/suid has mode 4755; it is stored as 0755');
    expect(readFileSync(join(dir, 'res', 'modes'), 'utf8')).toBe(
      '755 dep/out/bin\n755 dep/out/bin/suid\n644 dep/out/bin/ww\n',
    );
    const trees = join(store, 'airlock', 'v1', 'trees');
    expect(loosePaths(trees)).toEqual([]);
    expect(lstatSync(join(dir, 'out', 'bin', 'suid')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(dir, 'out', 'bin', 'ww')).mode & 0o7777).toBe(0o644);

    // A tree altered in the store (setuid bit, a planted FIFO) is re-extracted before dependents see it.
    const suid = readdirSync(trees)
      .map((t) => join(trees, t, 'out', 'bin', 'suid'))
      .find((p) => existsSync(p))!;
    chmodSync(suid, 0o4755);
    expect(spawnSync('mkfifo', [join(dirname(suid), 'fifo')]).status).toBe(0);
    const again = await build(dir);
    expect(again.status, again.stderr).toBe(0);
    expect(loosePaths(trees)).toEqual([]);
    expect(existsSync(join(dirname(suid), 'fifo'))).toBe(false);
  });
});

describe('escape suite: host paths in the mount table', () => {
  it('show neither the project, the store nor any other host directory a bind comes from', async () => {
    const dir = writeProject(
      join(root.path, 'host-paths'),
      [
        'version: 1',
        'name: paths',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  lib:',
        '    sources: ["src/**"]',
        '    steps: ["mkdir -p out && echo lib-output > out/lib.txt"]',
        '    outputs: ["out/**"]',
        '  app:',
        '    sources: ["src/**", "top.txt"]',
        '    deps: [{ target: lib, path: dep }]',
        '    toolchain: { host: [node] }',
        '    steps: ["mkdir -p res && cat /proc/self/mountinfo /proc/1/mountinfo /proc/self/mounts > res/mounts && cat dep/out/lib.txt src/a.txt top.txt > res/seen && pwd -P >> res/seen"]',
        '    outputs: ["res/**"]',
        '',
      ].join('\n'),
      { 'src/a.txt': 'a\n', 'top.txt': 'top\n' },
    );
    const r = await build(dir);
    expect(r.status, r.stderr).toBe(0);
    // Controls: the binds work and the table is really there.
    expect(readFileSync(join(dir, 'res', 'seen'), 'utf8')).toBe('lib-output\na\ntop\n/src\n');
    const mounts = readFileSync(join(dir, 'res', 'mounts'), 'utf8');
    expect(mounts).toMatch(/ \/src\/top\.txt /);
    expect(mounts).toMatch(/ \/src\/dep\/out /);
    for (const hostPath of [root.path, realpathSync(root.path), dir, store, 'airlock-sandbox-etc'])
      expect(mounts).not.toContain(hostPath);
    // Every bind's source is named by its path inside a directory of its own, nothing above it.
    const roots = mounts
      .split('\n')
      .filter((l) => / - overlay /.test(l))
      .map((l) => l.split(' ')[3]);
    expect(roots).toEqual(expect.arrayContaining(['/', '/top.txt', '/src']));
  });
});

describe('escape suite: escape sequences in step output', () => {
  const evil = String.raw`printf '\033]0;pwned-title\007\033]52;c;cHduZWQ=\007\033[2K\033[1Ahidden\r\n\302\233 c1\n'`;

  it('reach the terminal only as visible text, live and in the failure excerpt; the stored log keeps the raw bytes', async () => {
    const dir = project([`${evil}; ${evil} >&2; exit 3`]);
    const r = await build(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[STEP_FAILED]');
    // eslint-disable-next-line no-control-regex -- no ESC, BEL, CR or C1 byte may reach the terminal
    expect(r.stderr).not.toMatch(/[\x07\x1b\r\x9b]/);
    expect(r.stderr).toContain(String.raw`\x1b]52;c;cHduZWQ=\x07`);
    expect(r.stderr).toContain(String.raw`\x9b c1`);
    const excerpt = r.stderr.slice(r.stderr.indexOf('error[STEP_FAILED]'));
    expect(excerpt).toContain(String.raw`\x1b]0;pwned-title\x07`);
    const raw = [...storeBlobTexts(store).values()].some((t) =>
      t.includes('\x1b]52;c;cHduZWQ=\x07'),
    );
    expect(raw).toBe(true);
  });
});

describe('escape suite: limits', () => {
  it('kills a step that runs past its timeout with everything it started, naming the step', async () => {
    const marker = `600.${process.pid}`;
    const dir = project([`(sleep ${marker} &); sleep ${marker}`], undefined, ['timeout: 1s']);
    const r = await build(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[STEP_TIMEOUT]');
    expect(r.stderr).toContain(`step 1 of 1 ((sleep ${marker} &); sleep ${marker})`);
    expect(r.stderr).toContain('targets.t.timeout');
    expect(processesWith(marker)).toEqual([]);
  });

  it('denies ptrace of the sandbox init (it would stop it and hang the build), but not of the step’s own children', async () => {
    const nr = process.arch === 'arm64' ? 117 : 101;
    // PTRACE_ATTACH (16) to pid 1 would stop the sandbox's init, which reaps everything.
    const dir = project(
      [
        `perl -e 'my $c = fork(); if (!$c) { sleep 30; exit 0 } syscall(${nr}, 16, $c, 0, 0) == 0 or die "child: $!\\n"; kill 9, $c; print "traced own child\\n"; syscall(${nr}, 16, 1, 0, 0) == 0 or die "init: $!\\n"; sleep 1; print "attached to init\\n"'`,
      ],
      undefined,
      ['timeout: 20s'],
    );
    const r = await build(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('traced own child');
    expect(r.stderr).toContain('init: Operation not permitted');
    expect(r.stderr).toContain('error[STEP_FAILED]');
  });

  it('caps the sandbox /tmp tmpfs', async () => {
    const dir = project(
      ['head -c 3000000 /dev/zero > /tmp/big && mkdir -p out && touch out/x'],
      undefined,
      ['limits: { tmp: 1MiB }'],
    );
    const r = await build(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[STEP_FAILED]');
    expect(r.stderr).toMatch(/No space left on device/);
  });

  it('kills a step that prints more than its log limit', async () => {
    const dir = project(['yes airlock | head -c 1000000'], undefined, ['limits: { log: 64KiB }']);
    const r = await build(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[STEP_LOG_LIMIT]');
    expect(r.stderr).toContain('targets.t.limits.log');
  });

  it('refuses outputs larger than the output limit', async () => {
    const dir = project(['mkdir -p out && head -c 10000 /dev/zero > out/big'], undefined, [
      'limits: { outputs: 4KiB }',
    ]);
    const r = await build(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[OUTPUT_TOO_LARGE]');
  });
});

describe('escape suite: network in every family', () => {
  it('reaches no TCP, UDP or abstract unix server on the host, and resolves no name', async () => {
    const tcp = await startTcpServer();
    const udp = await startUdpServer();
    const abstract = await startAbstractServer();
    try {
      const probe = `
const net = require('net'), dgram = require('dgram'), dns = require('dns');
const results = {};
let pending = 4;
const done = (k, v) => { results[k] = v; if (--pending === 0) { require('fs').writeFileSync('out/net.json', JSON.stringify(results)); process.exit(0); } };
const t = net.connect({ host: '127.0.0.1', port: ${tcp.port} }); t.on('connect', () => done('tcp', 'connected')); t.on('error', (e) => done('tcp', e.code));
const a = net.connect({ path: '\\0${abstract.name}' }); a.on('connect', () => done('unix', 'connected')); a.on('error', (e) => done('unix', e.code));
const u = dgram.createSocket('udp4'); u.send('leak', ${udp.port}, '127.0.0.1', (e) => { u.close(); done('udp', e ? e.code : 'sent'); });
dns.lookup('example.com', (e) => done('dns', e ? e.code : 'resolved'));
setTimeout(() => process.exit(2), 5000).unref();
`;
      const dir = project(['mkdir -p out && node src/probe.cjs'], {
        'src/a.txt': 'a\n',
        'src/probe.cjs': probe,
      });
      const r = await build(dir);
      expect(r.status, r.stderr).toBe(0);
      const net = JSON.parse(out(dir, 'net.json')) as Record<string, string>;
      expect(net.tcp).not.toBe('connected');
      expect(net.unix).not.toBe('connected');
      expect(net.dns).not.toBe('resolved');
      expect(tcp.connections).toBe(0);
      expect(abstract.connections).toBe(0);
      expect(udp.received).toEqual([]);
    } finally {
      await tcp.close();
      await udp.close();
      await abstract.close();
    }
  });
});

describe('escape suite: reads of what was not declared', () => {
  it('sees no undeclared project file, no host home, /etc/shadow, /run or host /tmp file', async () => {
    const hostTmp = join(tmpdir(), `airlock-bait-${token()}`);
    writeFileSync(hostTmp, 'host tmp bait\n');
    try {
      const dir = project(
        [
          `mkdir -p out; ${CHECK} check undeclared "cat secret.txt"; check shadow "cat /etc/shadow"; check home "ls ${shq(homedir())}"; check run "ls /run/*"; check hosttmp "cat ${shq(hostTmp)}"; check project "ls ${shq(root.path)}"; touch out/x`,
        ],
        { 'src/a.txt': 'a\n', 'secret.txt': `secret-${token()}\n` },
      );
      // Controls: every bait is there on the host.
      expect(existsSync(homedir()) && existsSync('/etc/shadow') && existsSync(hostTmp)).toBe(true);
      const r = await build(dir);
      expect(r.status, r.stderr).toBe(0);
      for (const name of ['undeclared', 'shadow', 'home', 'run', 'hosttmp', 'project'])
        expect(r.stderr).toContain(`${name}:no`);
    } finally {
      writeFileSync(hostTmp, '');
    }
  });
});

describe('escape suite: secrets in the environment', () => {
  it('are in neither the step environment nor any /proc/*/environ', () => {
    const secret = `sk-${token()}`;
    const dir = project([
      'mkdir -p out; env > out/env; cat /proc/*/environ > out/environ 2>/dev/null; true',
    ]);
    const r = spawnBuild(dir, {
      env: { AIRLOCK_TEST_SECRET: secret, AWS_SECRET_ACCESS_KEY: secret },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(out(dir, 'env')).not.toContain(secret);
    expect(out(dir, 'environ')).not.toContain(secret);
    for (const text of storeBlobTexts(store).values()) expect(text).not.toContain(secret);
  });
});

describe('escape suite: processes surviving the step', () => {
  it('none: a daemon started with setsid and nohup is gone when the build returns', async () => {
    const marker = `3600.${Math.floor(Math.random() * 1e6)}`;
    const dir = project([
      `setsid nohup sleep ${marker} >/dev/null 2>&1 & mkdir -p out; touch out/x`,
    ]);
    const r = await build(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(processesWith(marker)).toEqual([]);
  });
});

/** Pids of host processes whose command line contains `needle`. */
function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes(needle)) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

describe('escape suite: writes outside the work directory', () => {
  it('cannot change sources, dependencies, /usr or the host /tmp', async () => {
    const hostMarker = `airlock-escape-${token()}`;
    const dir = writeProject(
      join(root.path, 'writes'),
      [
        'version: 1',
        'name: writes',
        'sourceDateEpoch: 1700000000',
        'targets:',
        '  lib:',
        '    sources: ["src/**"]',
        '    steps: ["mkdir -p out && echo lib > out/lib.txt"]',
        '    outputs: ["out/**"]',
        '  app:',
        '    sources: ["src/**"]',
        '    deps: [lib]',
        `    steps: ["${CHECK.replaceAll('"', '\\"')} check src \\"echo x > src/a.txt\\"; check srcnew \\"touch src/new\\"; check dep \\"echo x > out/lib.txt\\"; check usr \\"touch /usr/pwned\\"; check tmp \\"touch /tmp/${hostMarker}\\"; mkdir -p res; touch res/x"]`,
        '    outputs: ["res/**"]',
        '',
      ].join('\n'),
      { 'src/a.txt': 'a\n' },
    );
    const r = await build(dir);
    expect(r.status, r.stderr).toBe(0);
    for (const name of ['src', 'srcnew', 'dep', 'usr']) expect(r.stderr).toContain(`${name}:no`);
    expect(readFileSync(join(dir, 'src', 'a.txt'), 'utf8')).toBe('a\n');
    expect(existsSync(join(dir, 'src', 'new'))).toBe(false);
    expect(readFileSync(join(dir, 'out', 'lib.txt'), 'utf8')).toBe('lib\n');
    expect(existsSync('/usr/pwned')).toBe(false);
    // The sandbox /tmp is private: writing there works but never reaches the host's.
    expect(existsSync(join('/tmp', hostMarker))).toBe(false);
  });
});

describe('escape suite: terminal injection with TIOCSTI', () => {
  it('has no terminal to inject into: stdin is /dev/null and /dev/tty cannot be opened', () => {
    const dir = project([
      `mkdir -p out; ${CHECK} check tty "perl -e 'open(my \\$t, \\"+<\\", \\"/dev/tty\\") or die; ioctl(\\$t, 0x5412, \\"x\\") or die'"; check stdin "perl -e 'ioctl(STDIN, 0x5412, \\"x\\") or die'"; touch out/x`,
    ]);
    // Under a real pseudo-terminal, as a user would run it.
    const r = spawnSync(
      'script',
      [
        '-qec',
        `${shq(process.execPath)} ${shq(CLI)} --store ${shq(store)} build --no-cache -C ${shq(dir)}`,
        '/dev/null',
      ],
      { env: { ...process.env, NO_COLOR: '1', CI: '1' }, encoding: 'utf8' },
    );
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toContain('tty:no');
    expect(r.stdout).toContain('stdin:no');
  });
});
