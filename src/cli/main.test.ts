import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './main.js';
import type { CliIo } from './session.js';

/** An io whose output is captured, working in `cwd`. */
function io(
  cwd: string,
  env: Record<string, string> = {},
): CliIo & { out(): string; err(): string } {
  let out = '';
  let err = '';
  return {
    cwd,
    env: { NO_COLOR: '1', CI: '1', ...env },
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    signal: new AbortController().signal,
    out: () => out,
    err: () => err,
  };
}

describe('main', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'airlock-cli-main-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('resolves relative paths against the given working directory, not the process one', async () => {
    const dir = join(tmp, 'keys');
    mkdirSync(dir);
    const run = io(dir, { AIRLOCK_PASSWORD: 'pw' });
    expect(await main(['node', 'airlock', 'keygen', '--dir', '.', '--prefix', 'k'], run)).toBe(0);
    expect(readFileSync(join(dir, 'k.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(run.out()).toContain(join(dir, 'k.key'));
  });

  it('keeps each run to itself: a failing run neither sets process.exitCode nor fails the next run', async () => {
    const before = process.exitCode;
    const failing = io(tmp);
    writeFileSync(join(tmp, 'Dockerfile'), 'FROM node:20\n');
    expect(await main(['node', 'airlock', 'check', '.', '--fail-under', '5'], failing)).toBe(1);
    expect(process.exitCode).toBe(before);
    const next = io(tmp);
    expect(await main(['node', 'airlock', 'check', '.'], next)).toBe(0);
    expect(next.out()).toMatch(/level/i);
    expect(failing.err() + next.err()).toBe('');
  });

  it('runs two commands at once in one process, each with its own output and directory', async () => {
    const a = join(tmp, 'a');
    const b = join(tmp, 'b');
    mkdirSync(a);
    mkdirSync(b);
    const [ra, rb] = [io(a, { AIRLOCK_PASSWORD: 'a' }), io(b, { AIRLOCK_PASSWORD: 'b' })];
    const statuses = await Promise.all([
      main(['node', 'airlock', '--json', 'keygen'], ra),
      main(['node', 'airlock', '--json', 'keygen'], rb),
    ]);
    expect(statuses).toEqual([0, 0]);
    const ka = JSON.parse(ra.out()) as { privateKey: string; keyId: string };
    const kb = JSON.parse(rb.out()) as { privateKey: string; keyId: string };
    expect(ka.privateKey).toBe(join(a, 'cosign.key'));
    expect(kb.privateKey).toBe(join(b, 'cosign.key'));
    expect(ka.keyId).not.toBe(kb.keyId);
  });

  it('writes help and usage errors to the given streams, never to the process ones', async () => {
    const help = io(tmp);
    expect(await main(['node', 'airlock', 'build', '--help'], help)).toBe(0);
    expect(help.out()).toContain('--project <dir>');
    const bad = io(tmp);
    expect(await main(['node', 'airlock', 'build', '--bogus'], bad)).toBe(2);
    expect(bad.err()).toMatch(/^error\[USAGE\]: unknown option '--bogus'/m);
  });
});
