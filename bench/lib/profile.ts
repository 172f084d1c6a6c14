// Reads V8 .cpuprofile files (from `node --cpu-prof`) and sums self time per
// function, so a benchmark can say where the time went without a GUI.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface HotSpot {
  where: string;
  selfMs: number;
  share: number;
}

/** Self time per function across every .cpuprofile in `dir`, largest first, `top` of them. */
export function hotSpots(dir: string, top = 15, base = process.cwd()): HotSpot[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const prof = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const samples = prof.samples ?? [];
    const deltas = prof.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const node = byId.get(samples[i]!);
      // timeDeltas[i] is the time since the previous sample; attribute it to this one.
      const us = deltas[i] ?? 0;
      if (!node) continue;
      const f = node.callFrame;
      const url = f.url.startsWith('file://') ? relative(base, f.url.slice(7)) : f.url;
      const key = `${f.functionName || '(anonymous)'} ${url}${url ? `:${f.lineNumber + 1}` : ''}`;
      self.set(key, (self.get(key) ?? 0) + us / 1000);
      total += us / 1000;
    }
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([where, selfMs]) => ({ where, selfMs, share: total > 0 ? selfMs / total : 0 }));
}
