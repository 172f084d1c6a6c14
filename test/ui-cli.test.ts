// `airlock ui` through the compiled CLI: it prints its address with the token,
// serves the API only with that token, and stops cleanly on Ctrl-C.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, airlock, copyDemo, tempDir } from './helpers/cli.js';

describe('airlock ui', () => {
  const tmp = tempDir('ui-cli');
  afterAll(() => tmp.cleanup());

  it('listens on 127.0.0.1, prints the address with its token, and stops on SIGINT', async () => {
    const project = copyDemo(`${tmp.path}/demo`);
    const child = spawn(
      process.execPath,
      [CLI, '--json', '--store', `${tmp.path}/store`, 'ui', '-C', project],
      { env: { ...process.env, NO_COLOR: '1', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = once(child, 'exit');
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const started = JSON.parse(line) as { url: string; origin: string; readOnly: boolean };
    expect(started.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.readOnly).toBe(true);
    const token = new URL(started.url).searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const api = `${started.origin}/api/session`;
    expect((await fetch(api)).status).toBe(401);
    const session = await fetch(api, { headers: { authorization: `Bearer ${token}` } });
    expect(session.status).toBe(200);
    expect(((await session.json()) as { actions: { rollback: boolean } }).actions.rollback).toBe(
      false,
    );
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
  });

  it('refuses a port that is not a number with a usage error', () => {
    const r = airlock(['ui', '--port', 'eighty']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('is not a port');
  });
});
