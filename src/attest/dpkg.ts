import { compareBytes } from '../core/compare.js';

/** One Debian package installed in a root file system. */
export interface DebPackage {
  name: string;
  version: string;
  arch: string;
}

/*
 * /var/lib/dpkg/status: RFC 822-style paragraphs separated by blank lines,
 * continuation lines starting with a space:
 *
 *   Package: busybox
 *   Status: install ok installed
 *   Architecture: amd64
 *   Version: 1:1.36.1-9
 */

/**
 * The packages a dpkg status file says are installed ("install ok
 * installed"; half-installed, config-files or removed packages are not),
 * sorted by name and architecture, each once.
 */
export function parseDpkgStatus(text: string): DebPackage[] {
  const out = new Map<string, DebPackage>();
  for (const paragraph of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    for (const line of paragraph.split('\n')) {
      if (line === '' || line.startsWith(' ') || line.startsWith('\t')) continue;
      const i = line.indexOf(':');
      if (i > 0) fields.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
    }
    const name = fields.get('package');
    const version = fields.get('version');
    const arch = fields.get('architecture');
    const status = fields.get('status')?.split(/\s+/);
    if (!name || !version || !arch || status?.[2] !== 'installed') continue;
    out.set(`${name}:${arch}`, { name, version, arch });
  }
  return [...out.values()].sort(
    (a, b) => compareBytes(a.name, b.name) || compareBytes(a.arch, b.arch),
  );
}
