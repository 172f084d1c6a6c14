import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from './index.js';
import { parseConfig } from './index.js';

const FILE = '/proj/airlock.yaml';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

function problemsOf(text: string): ConfigProblem[] {
  const { config, problems } = parseConfig(text, FILE);
  expect(config).toBeUndefined();
  return problems;
}

function at(problems: ConfigProblem[], path: string): ConfigProblem {
  const hits = problems.filter((p) => p.path === path);
  expect(hits, `problems at ${path}: ${JSON.stringify(problems, null, 1)}`).toHaveLength(1);
  return hits[0]!;
}

const target = (toolchain: string): string =>
  `version: 1\nname: hello\ntargets:\n  a:\n    sources: [a]\n    steps: [s]\n    outputs: [o]\n    toolchain: ${toolchain}\n`;

describe('toolchain.image in airlock.yaml', () => {
  it('accepts an image pinned by digest (with or without a tag) and keeps it in the model', () => {
    for (const ref of [`127.0.0.1:5000/tools/node@${DIGEST}`, `ghcr.io/team/node:20@${DIGEST}`]) {
      const { config, problems } = parseConfig(target(`{ image: "${ref}" }`), FILE);
      expect(problems).toEqual([]);
      expect(config!.targets.get('a')!.toolchain).toEqual({ host: [], image: ref });
    }
  });

  it('refuses a tag without digest at its line and column, suggesting airlock pin', () => {
    const p = at(
      problemsOf(target('{ image: "ghcr.io/team/node:20" }')),
      'targets.a.toolchain.image',
    );
    expect(p).toMatchObject({ line: 8, column: 25 });
    expect(p.message).toContain('not pinned by digest');
    expect(p.fix).toContain('airlock pin');
    expect(p.fix).toContain('ghcr.io/team/node@sha256:<digest>');
  });

  it('refuses a malformed reference or digest', () => {
    const bad = problemsOf(target('{ image: "ghcr.io/Team/node@sha256:ABC" }'));
    expect(at(bad, 'targets.a.toolchain.image').message).toContain('not a valid image reference');
  });

  it('refuses host tools and an image together', () => {
    const p = at(
      problemsOf(target(`{ host: [node], image: "ghcr.io/t/n@${DIGEST}" }`)),
      'targets.a.toolchain.host',
    );
    expect(p.message).toContain('cannot both be set');
  });

  it('no longer calls image an unknown key, but still catches misspelt ones', () => {
    const p = at(problemsOf(target('{ imag: "x" }')), 'targets.a.toolchain.imag');
    expect(p.message).toContain('did you mean "image"');
  });
});

describe('cache.remote in airlock.yaml', () => {
  const withCache = (cache: string): string =>
    `version: 1\nname: hello\ncache: ${cache}\ntargets:\n  a: { sources: [a], steps: [s], outputs: [o] }\n`;

  it('accepts a registry repository', () => {
    const { config, problems } = parseConfig(
      withCache('{ remote: "127.0.0.1:5000/team/cache" }'),
      FILE,
    );
    expect(problems).toEqual([]);
    expect(config!.cache).toEqual({
      remote: {
        repository: '127.0.0.1:5000/team/cache',
        mode: 'read',
        trust: [],
        publishLogs: false,
      },
    });
  });

  it('reads the long form, resolving key files against the project', () => {
    const { config, problems } = parseConfig(
      withCache(
        '{ remote: { repository: "r.io/team/cache", mode: readwrite, trust: [keys/ci.pub], signingKey: keys/cosign.key, publishLogs: true } }',
      ),
      FILE,
    );
    expect(problems).toEqual([]);
    const root = FILE.slice(0, FILE.lastIndexOf('/'));
    expect(config!.cache?.remote).toEqual({
      repository: 'r.io/team/cache',
      mode: 'readwrite',
      trust: [`${root}/keys/ci.pub`],
      signingKey: `${root}/keys/cosign.key`,
      publishLogs: true,
    });
  });

  it('refuses readwrite without a signing key, a bad mode and misspelt long-form keys, located', () => {
    const rw = at(
      problemsOf(withCache('{ remote: { repository: "r.io/c", mode: readwrite } }')),
      'cache.remote.mode',
    );
    expect(rw.message).toContain('no signingKey');
    expect(rw).toMatchObject({ line: 3 });
    const mode = at(
      problemsOf(withCache('{ remote: { repository: "r.io/c", mode: write } }')),
      'cache.remote.mode',
    );
    expect(mode.message).toContain('"read" or "readwrite"');
    const typo = at(
      problemsOf(withCache('{ remote: { repository: "r.io/c", trusted: any } }')),
      'cache.remote.trusted',
    );
    expect(typo.message).toContain('did you mean "trust"');
    const trust = at(
      problemsOf(withCache('{ remote: { repository: "r.io/c", trust: everyone } }')),
      'cache.remote.trust',
    );
    expect(trust.fix).toContain('trust: [keys/ci.pub]');
  });

  it('reports a misspelt repository once, with its did-you-mean', () => {
    const problems = problemsOf(withCache('{ remote: { repositry: "r.io/c" } }'));
    expect(problems.map((p) => p.path)).toEqual(['cache.remote.repositry']);
    expect(problems[0]!.message).toContain('did you mean "repository"');
  });

  it('refuses a tag, a malformed repository and unknown keys, located', () => {
    const tagged = at(problemsOf(withCache('{ remote: "r.io/team/cache:v1" }')), 'cache.remote');
    expect(tagged).toMatchObject({ line: 3, column: 18 });
    expect(tagged.fix).toContain('remote: r.io/team/cache');
    const bad = at(problemsOf(withCache('{ remote: "http://r.io/x" }')), 'cache.remote');
    expect(bad.message).toContain('not a registry repository');
    const unknown = at(problemsOf(withCache('{ remot: "r.io/x" }')), 'cache.remot');
    expect(unknown.message).toContain('did you mean "remote"');
  });

  it('rejects a cache that is not a mapping', () => {
    const p = at(problemsOf(withCache('"r.io/x"')), 'cache');
    expect(p.message).toContain('must be a mapping');
  });
});
