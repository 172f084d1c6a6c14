import { describe, expect, it } from 'vitest';
import { serializeLock } from '../lock/model.js';
import { analyze } from './analyze.js';

const pkgLock = (version: string, integrity: string): string =>
  JSON.stringify({
    name: 'app',
    lockfileVersion: 3,
    packages: {
      '': { name: 'app' },
      'node_modules/ms': {
        version,
        resolved: `https://registry.npmjs.org/ms/-/ms-${version}.tgz`,
        integrity,
      },
    },
  });
const YAML =
  'version: 1\nname: app\ntargets:\n  app:\n    sources: ["src/**"]\n    npm: { lockfile: package-lock.json }\n    steps: ["true"]\n    outputs: ["out/**"]\n';
const lockFor = (version: string, integrity: string): string =>
  serializeLock({
    npm: [
      {
        name: 'ms',
        version,
        resolved: `https://registry.npmjs.org/ms/-/ms-${version}.tgz`,
        integrity,
      },
    ],
    files: [],
    images: [],
  });

function unlocked(files: Record<string, string>): string[] {
  const report = analyze({
    paths: Object.keys(files),
    files: Object.entries(files).map(([path, text]) => ({ path, text })),
  });
  return report.findings
    .filter((f) => f.ruleId === 'airlock/unlocked-inputs')
    .map((f) => f.message);
}

describe('airlock/unlocked-inputs with the real airlock.lock', () => {
  it('is silent when airlock.lock covers the package-lock', () => {
    expect(
      unlocked({
        'airlock.yaml': YAML,
        'package-lock.json': pkgLock('2.1.3', 'sha512-AAAA'),
        'airlock.lock': lockFor('2.1.3', 'sha512-AAAA'),
      }),
    ).toEqual([]);
  });
  it('flags a target naming a package-lock when there is no airlock.lock', () => {
    expect(
      unlocked({ 'airlock.yaml': YAML, 'package-lock.json': pkgLock('2.1.3', 'sha512-AAAA') }),
    ).toEqual(['targets declare external inputs but airlock.lock is missing']);
  });
  it('flags a stale lock, naming the package and both hashes', () => {
    const [message] = unlocked({
      'airlock.yaml': YAML,
      'package-lock.json': pkgLock('2.1.3', 'sha512-BBBB'),
      'airlock.lock': lockFor('2.1.3', 'sha512-AAAA'),
    });
    expect(message).toContain(
      'npm ms@2.1.3: airlock.lock records sha512-AAAA, the project needs sha512-BBBB',
    );
  });
  it('flags a files: entry without a hash', () => {
    expect(
      unlocked({
        'airlock.yaml': `version: 1\nname: app\nfiles:\n  tool: { url: "https://example.com/t" }\ntargets:\n  app: { sources: ["a"], steps: ["true"], outputs: ["o"] }\n`,
      }),
    ).toEqual(['files entry tool has no sha256 and no airlock.lock records one']);
  });
});
