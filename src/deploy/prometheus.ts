import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One instant query's outcome: a number, no data (null: empty or NaN), or an error in words. */
export type MetricRead = { value: number | null } | { error: string };

/** What a gate needs from a metrics source. */
export interface MetricSource {
  read(query: string): Promise<MetricRead>;
}

/**
 * Prometheus's HTTP API (`/api/v1/query`). Fails closed: unreachable,
 * a non-200 answer, a query error or an unexpected shape is an error; an
 * empty vector or NaN is no data. A vector of several series is an error
 * too (the query must aggregate to one value).
 */
export function prometheusSource(base: string, timeoutMs = 5000): MetricSource {
  return {
    async read(query) {
      let res: Response;
      try {
        res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        return {
          error: `Prometheus at ${base} is unreachable (${cause ?? (err as Error).message})`,
        };
      }
      let body: unknown;
      try {
        body = await res.json();
      } catch {
        return { error: `Prometheus at ${base} answered ${res.status} with no JSON` };
      }
      const b = body as {
        status?: string;
        error?: string;
        data?: { resultType?: string; result?: unknown };
      };
      if (res.status !== 200 || b.status !== 'success')
        return { error: `Prometheus rejected the query: ${b.error ?? `HTTP ${res.status}`}` };
      const data = b.data;
      if (data?.resultType === 'scalar') return value((data.result as unknown[])[1]);
      if (data?.resultType !== 'vector' || !Array.isArray(data.result))
        return {
          error: `the query returned a ${data?.resultType ?? 'missing'} result, not a vector`,
        };
      if (data.result.length === 0) return { value: null };
      if (data.result.length > 1)
        return {
          error: `the query returned ${data.result.length} series; aggregate it to one (sum, max, …)`,
        };
      const sample = (data.result[0] as { value?: unknown[] }).value;
      return value(sample?.[1]);
    },
  };
}

function value(text: unknown): MetricRead {
  const n = typeof text === 'string' ? Number(text) : Number.NaN;
  return { value: Number.isFinite(n) ? n : null };
}

/** One scrape target of Prometheus's file service discovery. */
export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

/** Writes a file_sd file atomically (Prometheus must never read half a file). */
export async function writeScrapeTargets(file: string, targets: ScrapeTarget[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const json = targets.map((t) => ({ targets: [t.address], labels: t.labels }));
  await writeFile(tmp, `${JSON.stringify(json, null, 2)}\n`);
  await rename(tmp, file);
}

/** Fills `{{name}}` placeholders of a gate query. */
export function renderQuery(query: string, vars: Record<string, string>): string {
  return query.replace(/\{\{(\w+)\}\}/g, (m, name: string) => vars[name] ?? m);
}
