// `airlock keygen` through the compiled CLI: cosign-format files, modes, no overwrite, passwords.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePrivateKey, decodePublicKey } from '../src/sign/index.js';
import { airlock, tempDir, runCli } from './helpers/cli.js';

describe('airlock keygen', () => {
  const dir = tempDir('keygen');
  afterAll(() => dir.cleanup());
  const secret = 'correct horse battery staple';

  it('writes an encrypted cosign.key (mode 0600) and cosign.pub that decode with the password', async () => {
    const r = await runCli(['keygen', '--dir', dir.path], { env: { AIRLOCK_PASSWORD: secret } });
    expect(r.status).toBe(0);
    const key = join(dir.path, 'cosign.key');
    const pub = join(dir.path, 'cosign.pub');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(key, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    expect(readFileSync(pub, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const decoded = await decodePrivateKey(readFileSync(key, 'utf8'), secret);
    expect(decodePublicKey(readFileSync(pub, 'utf8')).keyId).toBe(decoded.keyId);
    expect(r.stdout).toContain(`Key id: ${decoded.keyId}`);
    expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('never overwrites an existing key', async () => {
    const before = readFileSync(join(dir.path, 'cosign.key'), 'utf8');
    const r = await runCli(['keygen', '--dir', dir.path], { env: { AIRLOCK_PASSWORD: 'other' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error[KEY_EXISTS]');
    expect(readFileSync(join(dir.path, 'cosign.key'), 'utf8')).toBe(before);
  });

  it('takes COSIGN_PASSWORD too, and refuses to run without any password off a terminal', async () => {
    const r = await runCli(['keygen', '--dir', dir.path, '--prefix', 'ci'], {
      env: { COSIGN_PASSWORD: 'from cosign' },
    });
    expect(r.status).toBe(0);
    await decodePrivateKey(readFileSync(join(dir.path, 'ci.key'), 'utf8'), 'from cosign');
    const none = airlock(['keygen', '--dir', dir.path, '--prefix', 'none']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('AIRLOCK_PASSWORD');
  });
});
