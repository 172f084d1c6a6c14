import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyze } from '../src/check/index.js';
import { runCli, tempDir } from './helpers/cli.js';
import { writeProject, type JsonError } from './helpers/e2e.js';

const project = (tool: string, extra = ''): string => `version: 1
name: tools
sourceDateEpoch: 1700000000
targets:
  a:
    sources: ["a.txt"]
    toolchain: { host: [${tool}] }
    steps: ["mkdir -p out && ${tool} --version > out/v.txt"]
    outputs: ["out/**"]
${extra}`;

describe('host tools', () => {
  const tmp = tempDir('e2e-hosttools');
  const store = join(tmp.path, 'store');
  afterAll(() => tmp.cleanup());
  const build = async (dir: string, env: Record<string, string> = {}) => {
    const r = await runCli(['--json', '--store', store, 'build', '-C', dir], { env });
    return { status: r.status, stderr: r.stderr, out: JSON.parse(r.stdout) as JsonError };
  };

  it('binds a launcher installed by npm outside /usr with its package, read-only and hashed into the key', async () => {
    // Shaped like `npm install -g pnpm` under a user prefix (~/.npm-global, nvm):
    // bin/fakepnpm → ../lib/node_modules/fakepnpm/bin/fakepnpm.cjs, which loads ../dist/.
    const prefix = join(tmp.path, 'prefix');
    const pkg = join(prefix, 'lib', 'node_modules', 'fakepnpm');
    mkdirSync(join(pkg, 'bin'), { recursive: true });
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), '{"name":"fakepnpm","version":"1.0.0"}\n');
    writeFileSync(join(pkg, 'dist', 'main.cjs'), 'console.log("1.0.0");\n');
    writeFileSync(
      join(pkg, 'bin', 'fakepnpm.cjs'),
      "#!/usr/bin/env node\nrequire('../dist/main.cjs');\n",
    );
    chmodSync(join(pkg, 'bin', 'fakepnpm.cjs'), 0o755);
    symlinkSync('../lib/node_modules/fakepnpm/bin/fakepnpm.cjs', join(prefix, 'bin', 'fakepnpm'));
    const dir = writeProject(join(tmp.path, 'p1'), project('fakepnpm'), { 'a.txt': 'a\n' });
    const env = { PATH: `${join(prefix, 'bin')}:/usr/local/bin:/usr/bin:/bin` };
    const r = await build(dir, env);
    expect(r.status, JSON.stringify(r.out)).toBe(0);
    expect(readFileSync(join(dir, 'out', 'v.txt'), 'utf8')).toBe('1.0.0\n');
    expect((await build(dir, env)).out).toMatchObject({ targets: [{ cached: true }] });
    // A file beside the launcher changed: a new toolchain, so a new key, and the step sees the change.
    writeFileSync(join(pkg, 'dist', 'main.cjs'), 'console.log("1.0.1");\n');
    const changed = await build(dir, env);
    expect(changed.out).toMatchObject({ targets: [{ cached: false }] });
    expect(readFileSync(join(dir, 'out', 'v.txt'), 'utf8')).toBe('1.0.1\n');
    // Read-only in the sandbox: a step cannot change the tool's package.
    const writer = writeProject(
      join(tmp.path, 'p1w'),
      project('fakepnpm', '').replace(
        'fakepnpm --version > out/v.txt',
        `(echo x 2>/dev/null > ${join(pkg, 'dist', 'main.cjs')} && echo writable || echo read-only) > out/v.txt`,
      ),
      { 'a.txt': 'a\n' },
    );
    expect((await build(writer, env)).status).toBe(0);
    expect(readFileSync(join(writer, 'out', 'v.txt'), 'utf8')).toBe('read-only\n');
    expect(readFileSync(join(pkg, 'dist', 'main.cjs'), 'utf8')).toBe('console.log("1.0.1");\n');
  });

  it("refuses a version manager's shim outside /usr, naming the tool and the fix", async () => {
    const shims = join(tmp.path, 'pyenv', 'shims');
    mkdirSync(shims, { recursive: true });
    writeFileSync(
      join(shims, 'fakepy'),
      '#!/usr/bin/env bash\nexec "$PYENV_ROOT/libexec/pyenv" exec fakepy "$@"\n',
    );
    chmodSync(join(shims, 'fakepy'), 0o755);
    const dir = writeProject(join(tmp.path, 'p5'), project('fakepy'), { 'a.txt': 'a\n' });
    const r = await build(dir, { PATH: `${shims}:/usr/local/bin:/usr/bin:/bin` });
    expect(r.out.error.code).toBe('TOOL_OUTSIDE_USR');
    expect(r.out.error.message).toContain('host tool "fakepy"');
    expect(r.out.error.hint).toContain('PATH=/usr/local/bin:/usr/bin:/bin');
  });

  it('names a real Debian package for a missing tool, and none for a tool it does not know', async () => {
    const known = await build(
      writeProject(join(tmp.path, 'p2'), project('tsc'), { 'a.txt': 'a\n' }),
      {
        PATH: '/nonexistent',
      },
    );
    expect(known.out.error.code).toBe('TOOL_NOT_FOUND');
    expect(known.out.error.hint).toContain('apt-get install node-typescript');
    expect(known.out.error.hint).not.toContain('apt-get install tsc');
    const unknown = await build(
      writeProject(join(tmp.path, 'p3'), project('frobnicate-tool'), { 'a.txt': 'a\n' }),
    );
    expect(unknown.out.error.code).toBe('TOOL_NOT_FOUND');
    expect(unknown.out.error.hint).not.toContain('apt-get install frobnicate-tool');
    expect(unknown.out.error.hint).toContain('apt-file search bin/frobnicate-tool');
  });

  it("fails before any step when the host's node does not satisfy engines.node, and check reports it", async () => {
    const dir = writeProject(join(tmp.path, 'p4'), project('node'), {
      'a.txt': 'a\n',
      'package.json': '{\n  "name": "x",\n  "engines": { "node": ">=99" }\n}\n',
    });
    const r = await build(dir);
    expect(r.status).toBe(1);
    expect(r.out.error.code).toBe('ENGINE_UNSATISFIED');
    expect(r.out.error.message).toContain(`requires node >=99 (engines.node), but the host's node`);
    expect(r.out.error.message).toContain(process.version);

    const report = analyze({
      paths: ['package.json'],
      files: [{ path: 'package.json', text: '{\n  "engines": { "node": ">=99" }\n}\n' }],
      hostNodeVersion: 'v20.19.0',
    });
    const f = report.findings.find((x) => x.ruleId === 'npm/engines-node');
    expect(f).toMatchObject({ file: 'package.json', line: 2 });
    expect(f?.message).toContain('v20.19.0');
    const ok = analyze({
      paths: ['package.json'],
      files: [{ path: 'package.json', text: '{ "engines": { "node": ">=20.19" } }' }],
      hostNodeVersion: 'v20.19.0',
    });
    expect(ok.findings.some((x) => x.ruleId === 'npm/engines-node')).toBe(false);
  });
});
