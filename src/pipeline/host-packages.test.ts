import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DebianPackages, type DpkgQuery } from './host-packages.js';

describe('DebianPackages (which Debian package installed a host tool)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-dpkg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** A dpkg that has /bin/dash (registered before merged /usr) from dash:amd64 at `version()`. */
  const fake = (version: () => string): { query: DpkgQuery; calls: string[][] } => {
    const calls: string[][] = [];
    return {
      calls,
      query: (args) => {
        calls.push(args);
        if (args[0] === '-S')
          return Promise.resolve(
            args[1] === '/bin/dash'
              ? 'diversion by dash from: /bin/sh\ndash:amd64: /bin/dash\n'
              : undefined,
          );
        return Promise.resolve(args[2] === 'dash:amd64' ? `${version()} amd64` : undefined);
      },
    };
  };
  const status = (name: string): string => {
    const file = join(dir, name);
    writeFileSync(file, 'Package: dash\n');
    return file;
  };

  it('asks dpkg once per file while its database is unchanged, also under the path before merged /usr', async () => {
    const { query, calls } = fake(() => '0.5.12-2');
    const packages = new DebianPackages(query, status('once'));
    const dash = { name: 'dash', version: '0.5.12-2', arch: 'amd64' };
    expect(await packages.of('/usr/bin/dash')).toEqual(dash);
    expect(await packages.of('/usr/bin/dash')).toEqual(dash);
    expect(await packages.of('/usr/bin/unowned')).toBeUndefined();
    expect(await packages.of('/usr/bin/unowned')).toBeUndefined();
    expect(await packages.of('/opt/tool')).toBeUndefined();
    expect(calls).toEqual([
      ['-S', '/usr/bin/dash'],
      ['-S', '/bin/dash'],
      ['-W', '-f=${Version} ${Architecture}', 'dash:amd64'],
      ['-S', '/usr/bin/unowned'],
      ['-S', '/bin/unowned'],
      ['-S', '/opt/tool'],
    ]);
  });

  it("asks again once dpkg's database changed (a package installed or upgraded)", async () => {
    let version = '0.5.12-2';
    const { query, calls } = fake(() => version);
    const file = status('changed');
    const packages = new DebianPackages(query, file);
    expect(await packages.of('/usr/bin/dash')).toMatchObject({ version: '0.5.12-2' });
    version = '0.5.12-9';
    appendFileSync(file, 'Version: 0.5.12-9\n');
    expect(await packages.of('/usr/bin/dash')).toMatchObject({ version: '0.5.12-9' });
    expect(calls.filter((c) => c[0] === '-W')).toHaveLength(2);
  });

  it('answers from the real dpkg: dpkg-query is installed by the dpkg package', async () => {
    const found = await new DebianPackages().of('/usr/bin/dpkg-query');
    expect(found).toMatchObject({ name: 'dpkg', arch: expect.stringMatching(/^[a-z0-9]+$/) });
  });
});
