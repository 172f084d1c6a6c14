import { Command } from 'commander';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_RULES, analyze, type Finding } from '../src/check/index.js';
import { commandModules } from '../src/cli/commands/index.js';
import { CORPUS, loadCase } from './helpers/check-corpus.js';

const expected = JSON.parse(
  readFileSync(new URL('./fixtures/check/real/expected.json', import.meta.url), 'utf8'),
) as Record<string, { level: number; findings: string[] }>;

const key = (f: Finding): string =>
  f.file === '' ? `${f.ruleId} (repository)` : `${f.ruleId} ${f.file}:${f.line}`;

const run = (name: string) => analyze(loadCase(`../real/${name}`));

describe('check on real-shaped repositories', () => {
  for (const [name, want] of Object.entries(expected)) {
    describe(name, () => {
      const report = run(name);
      const got = report.findings.map(key);
      it('finds every expected finding (recall 1)', () => {
        const missing = want.findings.filter((w) => !got.includes(w));
        expect(
          missing,
          `recall ${want.findings.length - missing.length}/${want.findings.length}`,
        ).toEqual([]);
      });
      it('reports nothing unexpected (precision 1)', () => {
        const extra = got.filter((g) => !want.findings.includes(g));
        expect(extra, `precision ${got.length - extra.length}/${got.length}`).toEqual([]);
      });
      it(`scores level ${want.level}`, () => {
        expect(report.level).toBe(want.level);
      });
    });
  }
});

describe('check fix texts on real-shaped repositories', () => {
  const text = (name: string, rule: string, file: string): Finding => {
    const f = run(name).findings.find((x) => x.ruleId === rule && x.file === file);
    if (!f) throw new Error(`no ${rule} in ${name}/${file}`);
    return f;
  };
  it('names .npmrc package-lock=false as the cause of the missing lockfile and never advises npm ci', () => {
    const f = text('express-app', 'npm/no-lockfile', 'package.json');
    expect(f.message).toContain('.npmrc');
    expect(f.message).toContain('package-lock=false');
    const all = run('express-app')
      .findings.map((x) => x.fix)
      .join('\n');
    expect(all).not.toContain('npm ci');
  });
  it('lists only real package names from apk and apt lines, with the package manager’s own fix', () => {
    const apk = text('compose-alpine', 'dockerfile/apt-unversioned', 'Dockerfile');
    expect(apk.message).toMatch(/: musl-dev, make$/);
    expect(apk.fix).toContain('apk');
    expect(apk.fix).not.toContain('apt-cache');
    const apt = text('compose-alpine', 'dockerfile/apt-unversioned', 'docker/api.Dockerfile');
    expect(apt.message).toMatch(/: curl$/);
    expect(apt.fix).toContain('apt-cache policy');
  });
  it('makes version ranges under an integrity-carrying lockfile a note that does not cap the level', () => {
    const f = text('ts-lib', 'npm/version-range', 'package.json');
    expect(f.severity).toBe('note');
    expect(f.caps).toBeGreaterThanOrEqual(4);
    expect(text('express-app', 'npm/version-range', 'package.json').caps).toBe(1);
    // Level 1 is kept for what really makes builds unrepeatable.
    expect(text('express-app', 'npm/no-lockfile', 'package.json').caps).toBe(1);
    expect(text('prefetch', 'dockerfile/run-network', 'Dockerfile').caps).toBe(1);
  });
});

describe('check advice', () => {
  it('never names an airlock command that does not exist', () => {
    const cli = new Command();
    for (const register of commandModules) register(cli);
    const commands = new Set(cli.commands.map((c) => c.name()));
    const cases = [
      ...readdirSync(CORPUS).map((n) => n),
      ...Object.keys(expected).map((n) => `../real/${n}`),
    ];
    const texts = cases.flatMap((c) => {
      const r = analyze(loadCase(c));
      return [...r.findings, ...r.suppressed].flatMap((f) => [f.fix, f.why, f.message]);
    });
    texts.push(...analyze(loadCase('npm-good')).buildEvidence, ...ALL_RULES.map((r) => r.why));
    const named = new Set(
      texts.flatMap((t) => [...t.matchAll(/`airlock ([a-z-]+)/g)].map((m) => m[1]!)),
    );
    expect(named.size).toBeGreaterThan(0);
    expect([...named].filter((n) => !commands.has(n))).toEqual([]);
  });
});
