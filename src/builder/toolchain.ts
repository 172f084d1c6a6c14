import { accessSync, constants, lstatSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { AirlockError } from '../core/errors.js';
import type { Digest } from '../core/digest.js';
import { hashTree } from '../hash/inputs.js';
import type { StatCache } from '../hash/stat-cache.js';

export type ToolchainErrorCode = 'TOOL_NOT_FOUND';

export interface HostTool {
  name: string;
  /** The binary's real path after following every symlink (cc → alternatives → gcc-12). */
  path: string;
  digest: Digest;
}

/**
 * Resolves host tools by name on `PATH` to their real binaries and digests
 * (through the stat cache, so a 100 MB `node` is hashed once).
 */
export async function resolveHostTools(
  names: readonly string[],
  cache: StatCache,
  envPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
): Promise<HostTool[]> {
  const tools: HostTool[] = [];
  for (const name of names) {
    const found = findOnPath(name, envPath);
    if (!found) {
      throw new AirlockError<ToolchainErrorCode>(
        'TOOL_NOT_FOUND',
        `host tool "${name}" is not on PATH`,
        {
          hint: `Install ${name} on this machine (e.g. apt-get install ${name}) or remove it from toolchain.host.`,
          details: { tool: name, path: envPath },
        },
      );
    }
    const real = realpathSync(found);
    const [entry] = await hashTree('/', [{ path: real.slice(1), kind: 'file' }], cache);
    if (!entry || entry.kind !== 'file') throw new Error(`cannot hash ${real}`);
    tools.push({ name, path: real, digest: entry.digest });
  }
  return tools;
}

function findOnPath(name: string, envPath: string): string | undefined {
  if (name.includes('/')) return undefined;
  for (const dir of envPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (!lstatSync(candidate).isDirectory()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}
