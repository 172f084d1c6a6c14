import { describe, expect, it } from 'vitest';
import { scrubHostPaths } from './remote-cache.js';

describe('scrubHostPaths', () => {
  it('removes every occurrence of the store and project paths, longest first', () => {
    const text =
      'cc /home/dev/proj/src/a.c -o /home/dev/.cache/airlock/tmp/work-1/out\nin /home/dev/proj\n';
    expect(scrubHostPaths(text, ['/home/dev/proj', '/home/dev/.cache/airlock'])).toBe(
      'cc <host-path>/src/a.c -o <host-path>/tmp/work-1/out\nin <host-path>\n',
    );
  });

  it('ignores empty and root paths', () => {
    expect(scrubHostPaths('/usr/bin/cc', ['', '/'])).toBe('/usr/bin/cc');
  });
});
