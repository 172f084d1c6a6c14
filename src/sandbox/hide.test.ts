import { describe, expect, it } from 'vitest';
import { hiddenDirs } from './hide.js';

describe('hiddenDirs', () => {
  it('hides the directory of each file and each directory itself, none inside another', () => {
    expect(
      hiddenDirs(
        [
          { path: '/home/a/proj/src', dir: true },
          { path: '/home/a/proj/src/lib/x.ts', dir: false },
          { path: '/home/a/proj-b/README.md', dir: false },
          { path: '/home/a/proj/README.md', dir: false },
          { path: '/store/trees/abc/out', dir: true },
        ],
        ['/usr'],
        '/store/tmp/work-1',
      ),
    ).toEqual(['/home/a/proj', '/home/a/proj-b', '/store/trees/abc/out']);
  });

  it('leaves out /, the system directories and the work directory, which has an overlay of its own', () => {
    expect(
      hiddenDirs(
        [
          { path: '/usr/bin/node', dir: false },
          { path: '/lib64', dir: true },
          { path: '/top-level-file', dir: false },
          { path: '/w/work-1/in', dir: true },
          { path: '/w/work-1', dir: true },
          { path: '/w/work-10/x', dir: false },
        ],
        ['/usr', '/lib64'],
        '/w/work-1',
      ),
    ).toEqual(['/w/work-10']);
  });
});
