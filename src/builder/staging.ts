import picomatch from 'picomatch';

/** A read-only bind of a project path into the sandbox's work directory. */
export interface StagedInput {
  /** Project-relative path of a file or directory. */
  path: string;
  dir: boolean;
}

const parentOf = (p: string): string => {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
};

const depthOf = (p: string): number => (p === '' ? 0 : p.split('/').length);

/**
 * The fewest read-only binds that expose exactly the declared inputs: a
 * directory is bound whole only when every file the walk saw beneath it is
 * declared, nothing beneath it was left unwalked, and no output of the target
 * can be written beneath it (a read-only bind would make that impossible).
 * Everything else is bound file by file. Pure: decides from the walk alone.
 */
export function planInputBinds(opts: {
  inputs: readonly string[];
  all: readonly string[];
  dirs: readonly string[];
  pruned: readonly string[];
  outputs: readonly string[];
}): StagedInput[] {
  const declared = new Set(opts.inputs);
  const walked = new Set(opts.dirs);
  const blocked = new Set<string>();
  // A directory holding anything undeclared (or unwalked) cannot be bound whole; nor can its ancestors.
  const block = (dir: string): void => {
    for (let d: string | undefined = dir; d !== undefined; d = d === '' ? undefined : parentOf(d)) {
      if (blocked.has(d)) break;
      blocked.add(d);
    }
  };
  for (const f of opts.all) if (!declared.has(f)) block(parentOf(f));
  for (const d of opts.pruned) block(parentOf(d));
  blocked.add('');
  const outputRoots = opts.outputs.map((g) => {
    const scan = picomatch.scan(g);
    return {
      base: scan.isGlob ? scan.base : g,
      depth: scan.glob.includes('**') ? Infinity : depthOf(scan.glob),
    };
  });
  const outputMayLandIn = (dir: string): boolean =>
    outputRoots.some(({ base, depth }) => {
      if (base === dir || base.startsWith(`${dir}/`) || dir === '') return true;
      if (base === '' || dir.startsWith(`${base}/`)) return depthOf(dir) - depthOf(base) < depth;
      return false;
    });

  const binds: StagedInput[] = [];
  const boundDirs = new Set<string>();
  const isUnderBound = (p: string): boolean => {
    for (let d = parentOf(p); ; d = parentOf(d)) {
      if (boundDirs.has(d)) return true;
      if (d === '') return false;
    }
  };
  const sortedDirs = [...opts.dirs].sort((a, b) => depthOf(a) - depthOf(b) || (a < b ? -1 : 1));
  for (const dir of sortedDirs) {
    if (blocked.has(dir) || !walked.has(dir) || outputMayLandIn(dir) || isUnderBound(dir)) continue;
    boundDirs.add(dir);
    binds.push({ path: dir, dir: true });
  }
  for (const f of opts.inputs) if (!isUnderBound(f)) binds.push({ path: f, dir: false });
  return binds;
}
