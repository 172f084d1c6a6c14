import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A Debian package: its name (without an architecture qualifier), version and architecture. */
export interface DebianPackage {
  name: string;
  version: string;
  arch: string;
}

/** Runs `dpkg-query` with these arguments: its stdout, undefined when it fails. */
export type DpkgQuery = (args: string[]) => Promise<string | undefined>;

const dpkgQuery: DpkgQuery = async (args) => {
  try {
    return (await run('dpkg-query', args, { timeout: 30_000 })).stdout;
  } catch {
    return undefined; // not a Debian system, or no package owns the path
  }
};

/**
 * Which Debian package installed a file, each answer kept while dpkg's
 * database is unchanged (its status file, which every install and removal
 * rewrites): every build in a fresh store asks for each host tool (the audit
 * log and the evidence), and each `dpkg-query -S` reads every package's
 * file list (~60 ms of CPU).
 */
export class DebianPackages {
  readonly #answers = new Map<string, Promise<DebianPackage | undefined>>();
  #database: string | undefined;

  constructor(
    private readonly query: DpkgQuery = dpkgQuery,
    private readonly status = '/var/lib/dpkg/status',
  ) {}

  /** The package that installed `file`, undefined when none did (or this is no dpkg system). */
  of(file: string): Promise<DebianPackage | undefined> {
    const database = this.#databaseState();
    if (database !== this.#database) {
      this.#answers.clear();
      this.#database = database;
    }
    let answer = this.#answers.get(file);
    if (answer === undefined) {
      answer = this.#ask(file);
      this.#answers.set(file, answer);
    }
    return answer;
  }

  #databaseState(): string {
    try {
      const st = statSync(this.status);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'none';
    }
  }

  async #ask(file: string): Promise<DebianPackage | undefined> {
    // Merged /usr: dpkg may have registered /bin/dash for what is now /usr/bin/dash.
    const merged = file.replace(/^\/usr(?=\/(?:s?bin|lib)\/)/, '');
    for (const path of merged === file ? [file] : [file, merged]) {
      // `pkg[:arch][, other…]: path`; diversions are listed on lines of their own.
      const owner = (await this.query(['-S', path]))
        ?.split('\n')
        .find((l) => l !== '' && !l.startsWith('diversion by'));
      const pkg = owner?.slice(0, owner.lastIndexOf(': ')).split(', ')[0];
      if (pkg === undefined || pkg === '') continue;
      const info = await this.query(['-W', '-f=${Version} ${Architecture}', pkg]);
      const [version, arch] = (info ?? '').trim().split(' ');
      if (version && arch) return { name: pkg.replace(/:[a-z0-9-]+$/, ''), version, arch };
    }
    return undefined;
  }
}

/** This host's packages, shared by every build of the process (the daemon's, a test worker's). */
export const hostPackages = new DebianPackages();
