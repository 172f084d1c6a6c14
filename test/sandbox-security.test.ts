// The sandbox's security claims, each checked against real bubblewrap: no network,
// only declared inputs visible, no host environment, private /tmp, fixed identity.
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../src/core/index.js';
import { runInSandbox } from '../src/sandbox/index.js';
import {
  baseSpec,
  hostNode,
  shq,
  startAbstractServer,
  startTcpServer,
  startUdpServer,
  tempDir,
  useTempDir,
  token,
} from './helpers/sandbox.js';

const execFileP = promisify(execFile);

/** One line `kind:result` per probe; run both inside the sandbox and on the host as a control. */
const NET_PROBE = `
const net = require('net'), dgram = require('dgram'), dns = require('dns');
const [kind, target] = process.argv.slice(2);
const done = (r) => { console.log(kind + ':' + r); process.exit(0); };
setTimeout(() => done('timeout'), 5000).unref();
if (kind === 'tcp' || kind === 'unix') {
  const s = net.connect(kind === 'tcp' ? { host: '127.0.0.1', port: Number(target) } : { path: '\\0' + target });
  s.on('connect', () => done('connected'));
  s.on('error', (e) => done('error ' + e.code));
} else if (kind === 'udp') {
  const s = dgram.createSocket('udp4');
  s.send('leak', Number(target), '127.0.0.1', (e) => { s.close(); done(e ? 'error ' + e.code : 'sent'); });
} else if (kind === 'lookup') {
  dns.lookup(target, (e, a) => done(e ? 'error ' + e.code : 'resolved ' + a));
} else if (kind === 'resolve') {
  dns.resolve4(target, (e, a) => done(e ? 'error ' + e.code : 'resolved ' + a));
}
`;

/** A shell function printing `name:yes` when the command succeeds and `name:no` when it fails. */
const CHECK = `check() { if (eval "$2") >/dev/null 2>&1; then echo "$1:yes"; else echo "$1:no"; fi; }\n`;

function results(stdout: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.toString('utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

describe('sandbox network isolation', () => {
  const dirs = useTempDir('sbx-net');
  beforeAll(() => writeFileSync(join(dirs.path, 'probe.cjs'), NET_PROBE));

  const inSandbox = async (kind: string, target: string): Promise<string> => {
    const r = await runInSandbox(baseSpec(dirs.path, `node probe.cjs ${kind} ${shq(target)}`));
    expect(r.exitCode).toBe(0);
    return r.stdout.toString('utf8').trim();
  };
  const onHost = async (kind: string, target: string): Promise<string> =>
    (await execFileP(hostNode(), [join(dirs.path, 'probe.cjs'), kind, target])).stdout.trim();

  it('cannot connect to a TCP server on the host loopback', async () => {
    const server = await startTcpServer();
    try {
      expect(await onHost('tcp', String(server.port))).toBe('tcp:connected');
      const before = server.connections;
      expect(await inSandbox('tcp', String(server.port))).toMatch(/^tcp:(error|timeout)/);
      expect(server.connections).toBe(before);
    } finally {
      await server.close();
    }
  });

  it('cannot send a UDP datagram to a server on the host loopback', async () => {
    const server = await startUdpServer();
    try {
      await inSandbox('udp', String(server.port));
      // A datagram sent afterwards from the host arrives, so an earlier leak would have too.
      expect(await onHost('udp', String(server.port))).toBe('udp:sent');
      await expect.poll(() => server.received.length).toBeGreaterThan(0);
      expect(server.received).toEqual(['leak']);
    } finally {
      await server.close();
    }
  });

  it('cannot connect to an abstract unix socket the host listens on', async () => {
    const server = await startAbstractServer();
    try {
      expect(await onHost('unix', server.name)).toBe('unix:connected');
      const before = server.connections;
      expect(await inSandbox('unix', server.name)).toMatch(/^unix:(error|timeout)/);
      expect(server.connections).toBe(before);
    } finally {
      await server.close();
    }
  });

  it('cannot resolve names through DNS', async () => {
    expect(await inSandbox('lookup', 'example.com')).toMatch(/^lookup:error/);
    expect(await inSandbox('resolve', 'example.com')).toMatch(/^resolve:error/);
  });
});

describe('sandbox filesystem isolation', () => {
  // base/secret.txt  base/project/{other.txt, inputs/{input.txt, escape-abs, escape-rel}, work/}
  const base = useTempDir('sbx-fs');
  let secret = '';
  let project = '';
  let inputs = '';
  let work = '';
  const hostTmpFile = join(tmpdir(), `airlock-sbx-host-${token()}`);
  beforeAll(() => {
    secret = join(base.path, 'secret.txt');
    project = join(base.path, 'project');
    inputs = join(project, 'inputs');
    work = join(project, 'work');
    mkdirSync(inputs, { recursive: true });
    mkdirSync(work);
    writeFileSync(secret, 'TOP-SECRET');
    writeFileSync(join(project, 'other.txt'), 'undeclared');
    writeFileSync(join(inputs, 'input.txt'), 'declared input');
    symlinkSync(secret, join(inputs, 'escape-abs'));
    symlinkSync('../../secret.txt', join(inputs, 'escape-rel'));
    writeFileSync(hostTmpFile, 'host tmp');
  });
  afterAll(() => {
    rmSync(hostTmpFile, { force: true });
  });

  it('hides everything but the declared inputs and keeps the inputs read-only', async () => {
    const homeEntry = readdirSync(homedir())[0];
    const script =
      CHECK +
      [
        `check secret-abs "cat ${shq(secret)}"`,
        `check secret-dotdot "cat ../secret.txt || cat ../../secret.txt || cat ../../../secret.txt"`,
        `check other-project-file "cat ${shq(join(project, 'other.txt'))}"`,
        `check host-home "ls ${shq(homedir())}"`,
        homeEntry === undefined
          ? ''
          : `check host-home-entry "stat ${shq(join(homedir(), homeEntry))}"`,
        `check host-tmp "cat ${shq(hostTmpFile)}"`,
        `check run "test -e /run || test -e /var/run"`,
        `check host-workdir-path "test -e ${shq(work)}"`,
        `check symlink-abs "cat deps/escape-abs"`,
        `check symlink-rel "cat deps/escape-rel"`,
        `check input-read "test \\"$(cat deps/input.txt)\\" = 'declared input'"`,
        `check input-single-file "test \\"$(cat single.txt)\\" = 'declared input'"`,
        `check input-write "echo changed > deps/input.txt"`,
        `check input-create "touch deps/new"`,
        `check input-delete "rm -f deps/input.txt"`,
        `check root-write "touch /newfile"`,
        `check usr-write "touch /usr/newfile"`,
        `check work-write "echo out > result.txt"`,
      ].join('\n');
    const r = await runInSandbox(
      baseSpec(work, script, {
        inputs: [
          { source: inputs, dest: 'deps' },
          { source: join(inputs, 'input.txt'), dest: 'single.txt' },
        ],
      }),
    );
    expect(r.exitCode).toBe(0);
    const got = results(r.stdout);
    expect(got).toMatchObject({
      'secret-abs': 'no',
      'secret-dotdot': 'no',
      'other-project-file': 'no',
      'host-home': 'no',
      'host-tmp': 'no',
      run: 'no',
      'host-workdir-path': 'no',
      'symlink-abs': 'no',
      'symlink-rel': 'no',
      'input-read': 'yes',
      'input-single-file': 'yes',
      'input-write': 'no',
      'input-create': 'no',
      'input-delete': 'no',
      'root-write': 'no',
      'usr-write': 'no',
      'work-write': 'yes',
    });
    if (homeEntry !== undefined) expect(got['host-home-entry']).toBe('no');
    expect(r.stdout.toString('utf8') + r.stderr.toString('utf8')).not.toContain('TOP-SECRET');
    expect(readFileSync(join(inputs, 'input.txt'), 'utf8')).toBe('declared input');
    expect(existsSync(join(inputs, 'new'))).toBe(false);
    expect(readFileSync(join(work, 'result.txt'), 'utf8')).toBe('out\n');
    // Mount points bwrap created for the inputs are gone again.
    expect(readdirSync(work).sort()).toEqual(['result.txt']);
  });

  it('refuses an input whose source is itself a symlink out of the project', async () => {
    const err: unknown = await runInSandbox(
      baseSpec(work, 'cat leak', {
        inputs: [{ source: join(inputs, 'escape-abs'), dest: 'leak' }],
      }),
    ).catch((e: unknown) => e);
    expect(isAirlockError(err, 'SANDBOX_INVALID_SPEC')).toBe(true);
  });
});

describe('sandbox environment', () => {
  const dirs = useTempDir('sbx-env');

  it('passes nothing of the host environment, only the fixed and declared variables', async () => {
    const secret = `leak-${token()}`;
    process.env.AIRLOCK_TEST_SECRET = secret;
    try {
      const r = await runInSandbox(
        baseSpec(
          dirs.path,
          'env; env > env.txt; cat /proc/[0-9]*/environ > environ.bin 2>/dev/null; true',
          {
            env: { DECLARED: 'yes' },
          },
        ),
      );
      expect(r.exitCode).toBe(0);
      const names = r.stdout
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => l.slice(0, l.indexOf('=')))
        .sort();
      expect(names).toEqual([
        'DECLARED',
        'HOME',
        'LANG',
        'LC_ALL',
        'PATH',
        'PWD',
        'SOURCE_DATE_EPOCH',
        'TZ',
      ]);
      const seen = [
        r.stdout,
        r.stderr,
        ...readdirSync(dirs.path).map((f) => readFileSync(join(dirs.path, f))),
      ];
      for (const bytes of seen) expect(bytes.toString('latin1')).not.toContain(secret);
      expect(readFileSync(join(dirs.path, 'env.txt'), 'utf8')).toContain('DECLARED=yes');
    } finally {
      delete process.env.AIRLOCK_TEST_SECRET;
    }
  });

  it('gives an empty writable HOME, umask 022, a fixed hostname and /src as the working path', async () => {
    const r = await runInSandbox(
      baseSpec(
        dirs.path,
        CHECK +
          [
            'echo "home-entries:$(ls -A "$HOME" | wc -l)"',
            'check home-writable "touch $HOME/x"',
            'echo "umask:$(umask)"',
            'echo "hostname:$(hostname)"',
            'echo "node-hostname:$(node -p "require(\'os\').hostname()")"',
            'echo "pwd:$(pwd)"',
            'echo "cwd-link:$(readlink /proc/self/cwd)"',
            'echo "whoami:$(whoami)"',
            'echo "tz:$(date +%Z)"',
            'echo "caps:$(grep CapEff /proc/self/status | cut -f2)"',
            `check host-pid "test -e /proc/${process.pid}"`,
            'check nested-userns "unshare -U true"',
            'touch made-here && echo "mode:$(stat -c %a made-here)"',
            'env',
          ].join('\n'),
      ),
    );
    expect(r.exitCode).toBe(0);
    expect(results(r.stdout)).toMatchObject({
      'home-entries': '0',
      'home-writable': 'yes',
      umask: '0022',
      hostname: 'airlock',
      'node-hostname': 'airlock',
      pwd: '/src',
      'cwd-link': '/src',
      whoami: 'build',
      tz: 'UTC',
      caps: '0000000000000000',
      'host-pid': 'no',
      'nested-userns': 'no',
      mode: '644',
    });
    expect(r.stdout.toString('utf8')).toContain('HOME=/home/build');
    expect(r.stdout.toString('utf8')).not.toContain(dirs.path);
  });
});

describe('sandbox private /tmp', () => {
  it('lets two sandboxes running at once create the same /tmp file exclusively, leaving the host /tmp alone', async () => {
    const a = tempDir('sbx-tmp-a');
    const b = tempDir('sbx-tmp-b');
    const name = `airlock-same-${token()}`;
    try {
      // Each step holds its file until both have had time to create theirs.
      const command = `set -C; echo x > /tmp/${name} && echo created; sleep 0.3; cat /tmp/${name}`;
      const [ra, rb] = await Promise.all([
        runInSandbox(baseSpec(a.path, command)),
        runInSandbox(baseSpec(b.path, command)),
      ]);
      expect([ra.exitCode, rb.exitCode]).toEqual([0, 0]);
      expect(ra.stdout.toString('utf8')).toBe('created\nx\n');
      expect(rb.stdout.toString('utf8')).toBe('created\nx\n');
      expect(existsSync(join(tmpdir(), name))).toBe(false);
      expect(existsSync(join('/tmp', name))).toBe(false);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });
});
