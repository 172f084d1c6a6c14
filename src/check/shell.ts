/** The OS package manager an install line uses. */
export type OsPackageManager = 'apt' | 'apk';

/** Packages one `apt-get install` / `apk add` names without a version. */
export interface UnversionedInstall {
  manager: OsPackageManager;
  packages: string[];
}

/** Options whose next word is a value, not a package name. */
const VALUE_OPTIONS: Record<OsPackageManager, ReadonlySet<string>> = {
  apt: new Set([
    '-t',
    '--target-release',
    '--default-release',
    '-o',
    '--option',
    '-c',
    '--config-file',
  ]),
  apk: new Set([
    '-t',
    '--virtual',
    '-X',
    '--repository',
    '-p',
    '--root',
    '--arch',
    '--keys-dir',
    '--repositories-file',
    '--cache-dir',
  ]),
};

const INSTALL_RE: Record<OsPackageManager, RegExp> = {
  apt: /\b(?:apt-get|apt)\s+((?:-\S+\s+(?:\S+\s+)?)*?)install\b([^&|;\n]*)/g,
  apk: /\bapk\s+((?:-\S+\s+)*?)add\b([^&|;\n]*)/g,
};

/**
 * Every `apt-get install` / `apk add` in a shell command with the packages it
 * names without a version. Comments, heredoc terminators, option values
 * (`-t bookworm-backports`, `--virtual .build-deps`), variables and local
 * `.deb` files are not packages.
 */
export function unversionedInstalls(command: string): UnversionedInstall[] {
  const out: UnversionedInstall[] = [];
  for (const manager of ['apt', 'apk'] as const) {
    for (const m of command.matchAll(INSTALL_RE[manager])) {
      const words = m[2]!.split(/\s+/).filter(Boolean);
      const packages: string[] = [];
      for (let i = 0; i < words.length; i++) {
        const w = words[i]!;
        if (w.startsWith('#')) break;
        if (VALUE_OPTIONS[manager].has(w)) {
          i++;
          continue;
        }
        if (
          w.startsWith('-') ||
          w === '\\' ||
          w.includes('=') ||
          w.startsWith('$') ||
          w.startsWith('<') ||
          w.startsWith('>') ||
          w.endsWith('.deb') ||
          w.endsWith('.apk') ||
          w.startsWith('./') ||
          w.startsWith('/') ||
          !/^[A-Za-z0-9][\w.+:~-]*$/.test(w)
        )
          continue;
        packages.push(w);
      }
      if (packages.length > 0) out.push({ manager, packages });
    }
  }
  return out;
}

/** How to pin the packages of one install, in the package manager's own terms. */
export function pinPackagesFix(install: UnversionedInstall): string {
  const each = install.packages.map((p) => `\`${p}=<version>\``).join(' ');
  return install.manager === 'apk'
    ? `Pin each package: ${each} (see \`apk policy <pkg>\`), from a pinned Alpine release repository.`
    : `Pin each package: ${each} (see \`apt-cache policy <pkg>\`), and use a snapshot mirror (snapshot.debian.org).`;
}

const NETWORK_SCRIPT_RE = [
  /\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+\S+=\S*\s+)*(?:ba|z|da|k)?sh\b/,
  /\b(?:ba|z|k)?sh\s+(?:-\S+\s+)*<\(\s*(?:curl|wget)\b/,
  /\b(?:ba|z|k)?sh\s+-c\s+["']?\$\(\s*(?:curl|wget)\b/,
];

/** True when a shell command runs a script straight from the network (`curl … | sh`, `bash <(curl …)`). */
export function runsScriptFromNetwork(command: string): boolean {
  return NETWORK_SCRIPT_RE.some((re) => re.test(command));
}
