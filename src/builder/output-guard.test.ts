import { describe, expect, it } from 'vitest';
import { isVcsPath, outputViolations } from './output-guard.js';

const file = (path: string): { path: string; kind: 'file' } => ({ path, kind: 'file' });

describe('outputViolations', () => {
  it('accepts entries that all match the outputs and cover every output glob', () => {
    expect(
      outputViolations(['out/**', 'bin/tool'], [file('out/a'), file('out/b/c'), file('bin/tool')]),
    ).toEqual([]);
  });

  describe('when an entry would leave the declared outputs', () => {
    it.each([
      ['../outside', 'not a plain relative path'],
      ['/etc/passwd', 'not a plain relative path'],
      ['out/../../escape', 'not a plain relative path'],
      ['out/./a', 'not a plain relative path'],
      ['out//a', 'not a plain relative path'],
      ['src/main.c', 'is not a declared output'],
    ])('rejects %s', (path, why) => {
      expect(outputViolations(['out/**'], [file('out/ok'), file(path)]).join('\n')).toContain(why);
    });

    it('never allows a VCS directory, even when the globs match everything', () => {
      for (const path of ['.git/hooks/pre-commit', 'sub/.hg/hgrc', '.svn/entries', 'x/CVS/Root']) {
        expect(outputViolations(['**'], [file('ok'), file(path)]).join('\n')).toContain(
          'inside a version-control directory',
        );
      }
    });

    it('rejects a path below another entry (a file or link used as a directory)', () => {
      expect(
        outputViolations(
          ['out/**'],
          [{ path: 'out/d', kind: 'symlink' }, file('out/d/passwd')],
        ).join('\n'),
      ).toContain('lies below the entry out/d');
    });

    it("rejects a result whose entries leave an output glob empty (another target's layer)", () => {
      expect(outputViolations(['out/**', 'bin/tool'], [file('out/a')])).toEqual([
        'nothing matches output "bin/tool"',
      ]);
    });
  });
});

describe('isVcsPath', () => {
  it('looks at whole path segments only', () => {
    expect(isVcsPath('.git/config')).toBe(true);
    expect(isVcsPath('a/.git')).toBe(true);
    expect(isVcsPath('.github/workflows/ci.yml')).toBe(false);
    expect(isVcsPath('out/.gitignore')).toBe(false);
  });
});
