import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, type CliResult, runCli } from './helpers/cli.js';
import { writeProject, type JsonError } from './helpers/e2e.js';

// Real file-system faults: a small tmpfs that fills up, and one remounted
// read-only. The tests run as root (like the rest of the suite's sandbox tests).

const project = (dir: string, steps: string): string =>
  writeProject(
    dir,
    `version: 1
name: faults
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
    steps: ${steps}
    outputs: ["out/**"]
`,
  );

const expectError = (r: CliResult, code: string): void => {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^error\\[${code}\\]: `, 'm'));
  expect(r.stderr).toMatch(/^ {2}fix: \S/m);
  expect(r.stderr).not.toContain('error[BUG]');
};

describe('a store on a file system that fills up', () => {
  const tmp = tempDir('e2e-full');
  const mnt = join(tmp.path, 'mnt');
  const store = join(mnt, 'store');
  beforeAll(() => {
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', ['-l', mnt]);
    tmp.cleanup();
  });

  it('shows the step that failed because the disk filled, not a failure to save its log', async () => {
    const dir = project(
      join(tmp.path, 'p1'),
      '["mkdir -p out && head -c 8000000 /dev/urandom > out/big"]',
    );
    const r = await runCli(['--json', '--store', store, 'build', '-C', dir]);
    expect(r.status, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as JsonError;
    expect(doc.error.code).toBe('STEP_FAILED');
    expect(doc.error.message).toMatch(/No space left on device/);
  });

  it('names a full store STORE_FULL with its path when the outputs do not fit', async () => {
    const dir = project(
      join(tmp.path, 'p2'),
      '["mkdir -p out && head -c 2000000 /dev/urandom > out/big"]',
    );
    const r = await runCli(['--store', store, 'build', '-C', dir]);
    expectError(r, 'STORE_FULL');
    expect(r.stderr).toContain(store);
  });

  it('fsck with no byte left reports what it can instead of crashing', async () => {
    const filler = join(mnt, 'filler');
    try {
      execFileSync('sh', ['-c', `head -c 8000000 /dev/zero > ${filler} 2>/dev/null || true`]);
      const r = await runCli(['--json', '--store', store, 'store', 'fsck']);
      expect(r.stderr).not.toContain('error[BUG]');
      expect(r.stdout, r.stderr).toMatch(/"problems"/);
      const report = JSON.parse(r.stdout) as { ok: boolean; problems: { kind: string }[] };
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => p.kind)).toContain('store-full');
    } finally {
      execFileSync('rm', ['-f', filler]);
    }
    const after = await runCli(['--json', '--store', store, 'store', 'fsck']);
    expect(JSON.parse(after.stdout)).toMatchObject({ ok: true });
  });
});

describe('a store on a read-only file system', () => {
  const tmp = tempDir('e2e-ro');
  const mnt = join(tmp.path, 'mnt');
  const store = join(mnt, 'store');
  beforeAll(async () => {
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    const r = await runCli(['--store', store, 'store', 'fsck']);
    expect(r.status, r.stderr).toBe(0);
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', ['-l', mnt]);
    tmp.cleanup();
  });

  it('fails a build with STORE_NOT_WRITABLE naming the store', async () => {
    const dir = project(join(tmp.path, 'p'), '["mkdir -p out && cp a.txt out/"]');
    const r = await runCli(['--store', store, 'build', '-C', dir]);
    expectError(r, 'STORE_NOT_WRITABLE');
    expect(r.stderr).toContain(store);
    expect(r.stderr).toContain('EROFS');
  });
});

describe('an immutable file in the store', () => {
  const tmp = tempDir('e2e-immutable');
  const store = join(tmp.path, 'store');
  let index = '';
  beforeAll(async () => {
    const dir = project(join(tmp.path, 'p'), '["mkdir -p out && cp a.txt out/"]');
    const r = await runCli(['--store', store, 'build', '-C', dir]);
    expect(r.status, r.stderr).toBe(0);
    index = join(store, 'tmp');
    execFileSync('chattr', ['+i', index]);
  });
  afterAll(() => {
    execFileSync('chattr', ['-i', index]);
    tmp.cleanup();
  });

  it('is STORE_NOT_WRITABLE with the path, not error[BUG]', async () => {
    writeFileSync(join(tmp.path, 'p', 'a.txt'), 'changed\n');
    const r = await runCli(['--store', store, 'build', '-C', join(tmp.path, 'p')]);
    expectError(r, 'STORE_NOT_WRITABLE');
    expect(r.stderr).toContain(join(store, 'tmp'));
    expect(readFileSync(join(tmp.path, 'p', 'a.txt'), 'utf8')).toBe('changed\n');
  });
});

describe('damage that used to outlive every repair', () => {
  const tmp = tempDir('e2e-damage');
  const store = join(tmp.path, 'store');
  const dir = project(join(tmp.path, 'p'), '["mkdir -p out && cp a.txt out/"]');
  afterAll(() => tmp.cleanup());

  const build = (...args: string[]): Promise<CliResult> =>
    runCli(['--store', store, 'build', '-C', dir, ...args]);
  const fsckJson = async (
    ...args: string[]
  ): Promise<{ ok: boolean; problems: { kind: string; message: string; repaired: boolean }[] }> =>
    JSON.parse((await runCli(['--json', '--store', store, 'store', 'fsck', ...args])).stdout) as {
      ok: boolean;
      problems: { kind: string; message: string; repaired: boolean }[];
    };
  /** The blob file of the image config of the project's only tagged artifact. */
  const configBlob = (): string => {
    const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const manifest = JSON.parse(
      readFileSync(join(store, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8'),
    ) as { config: { digest: string } };
    return join(store, 'blobs', 'sha256', manifest.config.digest.slice(7));
  };
  const corrupt = (path: string): void => {
    chmodSync(path, 0o644);
    const bytes = readFileSync(path);
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0x01;
    writeFileSync(path, bytes);
  };

  beforeAll(async () => {
    expect((await build()).status).toBe(0);
  });

  it('a corrupt image config blob is re-created by the next build', async () => {
    corrupt(configBlob());
    const r = await build();
    expect(r.status, r.stderr).toBe(0);
    const report = await fsckJson('--no-repair');
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('fsck drops an artifact it cannot complete, says so, and the next build tags it again', async () => {
    corrupt(configBlob());
    const report = await fsckJson();
    expect(report.problems.map((p) => p.kind)).toEqual(
      expect.arrayContaining(['corrupt-blob', 'dangling-reference', 'damaged-artifact']),
    );
    const dropped = report.problems.find((p) => p.kind === 'damaged-artifact')!;
    expect(dropped.message).toMatch(/^tag faults\/a.* was dropped/);
    expect((await fsckJson()).ok).toBe(true);
    expect((await build()).status).toBe(0);
    expect(existsSync(configBlob())).toBe(true);
    expect(await fsckJson('--no-repair')).toMatchObject({ ok: true, problems: [] });
  });

  it('a garbage meta.sqlite is STORE_DAMAGED for a build, and fsck rebuilds it from index.json saying what was lost', async () => {
    const meta = join(store, 'airlock', 'v1', 'meta.sqlite');
    rmSync(`${meta}-wal`, { force: true });
    rmSync(`${meta}-shm`, { force: true });
    writeFileSync(meta, Buffer.alloc(4096, 0x41));
    expectError(await build(), 'STORE_DAMAGED');
    const report = await fsckJson();
    const p = report.problems.find((x) => x.kind === 'meta-damaged')!;
    expect(p.repaired).toBe(true);
    expect(p.message).toMatch(
      /moved to \S+quarantine\S+ and recreated: tags restored from index\.json, every action-cache entry lost/,
    );
    const r = await build();
    expect(r.status, r.stderr).toBe(0);
    expect(await fsckJson('--no-repair')).toMatchObject({ ok: true, problems: [] });
  });

  it('a half-truncated meta.sqlite is found by fsck --no-repair, which goes on checking', async () => {
    const meta = join(store, 'airlock', 'v1', 'meta.sqlite');
    // Fill the database, then cut it in half.
    for (let i = 0; i < 8; i++) {
      writeFileSync(join(dir, 'a.txt'), `version ${i}\n`);
      expect((await build()).status).toBe(0);
    }
    const r0 = await runCli(['--store', store, 'store', 'fsck']);
    expect(r0.status, r0.stdout).toBe(0);
    const size = statSync(meta).size;
    truncateSync(meta, Math.floor(size / 2));
    const r = await runCli(['--json', '--store', store, 'store', 'fsck', '--no-repair']);
    expect(r.stderr).not.toContain('error[BUG]');
    const report = JSON.parse(r.stdout) as { blobsChecked: number; problems: { kind: string }[] };
    expect(report.problems.map((p) => p.kind)).toContain('meta-damaged');
    expect(report.blobsChecked).toBeGreaterThan(10);
    expect((await fsckJson()).problems.map((p) => p.kind)).toContain('meta-damaged');
    expect((await build()).status).toBe(0);
  });

  it('a garbage build.sqlite is set aside with a warning; fsck says what it held', async () => {
    const db = join(store, 'airlock', 'v1', 'build.sqlite');
    rmSync(`${db}-wal`, { force: true });
    rmSync(`${db}-shm`, { force: true });
    writeFileSync(db, Buffer.alloc(4096, 0x42));
    const report = await fsckJson('--no-repair');
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'build-db-damaged', repaired: false }),
    ]);
    const r = await build();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /build\.sqlite was not a readable SQLite database .*moved to \S+ and recreated; lost: the stat cache/,
    );
    expect(await fsckJson('--no-repair')).toMatchObject({ ok: true, problems: [] });
  });

  it('a directory at a blob path and an index.json that is a directory are reported and repaired', async () => {
    const bogus = join(store, 'blobs', 'sha256', '0'.repeat(64));
    mkdirSync(bogus);
    const index = join(store, 'index.json');
    const text = readFileSync(index, 'utf8');
    rmSync(index);
    mkdirSync(index);
    expectError(await build(), 'STORE_DAMAGED');
    const noRepair = await runCli(['--json', '--store', store, 'store', 'fsck', '--no-repair']);
    expect(noRepair.stderr).not.toContain('error[BUG]');
    const kinds = (JSON.parse(noRepair.stdout) as { problems: { kind: string }[] }).problems.map(
      (p) => p.kind,
    );
    expect(kinds).toEqual(expect.arrayContaining(['index-damaged', 'corrupt-blob']));
    await fsckJson();
    expect(readFileSync(index, 'utf8')).toBe(text);
    expect(existsSync(bogus)).toBe(false);
    expect(await fsckJson('--no-repair')).toMatchObject({ ok: true, problems: [] });
  });
});

describe('work directories of a killed build', () => {
  const tmp = tempDir('e2e-workdirs');
  const store = join(tmp.path, 'store');
  const dir = project(join(tmp.path, 'p'), '["mkdir -p out && cp a.txt out/"]');
  afterAll(() => tmp.cleanup());

  const pidNs = (): string => /\d+/.exec(readlinkSync('/proc/self/ns/pid'))![0];
  /** pid, start time (field 22 of /proc/<pid>/stat) and pid namespace of a process that is now gone. */
  const deadOwner = async (): Promise<string> => {
    const child = spawn('sleep', ['30']);
    const stat = readFileSync(`/proc/${child.pid!}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    return `${child.pid!}.${start}.${pidNs()}`;
  };

  it('are removed by the next build at once; a live owner’s are kept', async () => {
    expect((await runCli(['--store', store, 'store', 'fsck'])).status).toBe(0);
    const dead = join(store, 'tmp', `work-${await deadOwner()}-Ab12Cd`);
    mkdirSync(join(dead, 'src'), { recursive: true });
    writeFileSync(join(dead, 'src', 'big'), 'left by a kill -9');
    const selfStat = readFileSync('/proc/self/stat', 'utf8');
    const live = join(
      store,
      'tmp',
      `work-${process.pid}.${selfStat.slice(selfStat.lastIndexOf(')') + 2).split(' ')[19]!}.${pidNs()}-Ef34Gh`,
    );
    mkdirSync(live);
    const r = await runCli(['--store', store, 'build', '-C', dir]);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    rmSync(live, { recursive: true });
  });
});
