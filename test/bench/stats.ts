/** Small statistics and formatting helpers shared by the benchmark parts, and the closed loop that drives a segment. */

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest-rank: the smallest value with at least q of the samples at or below it.
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

export const median = (values: readonly number[]) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Rounds to `digits` decimals (for JSON output that stays readable; NaN and infinities stay as they are). */
export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

export const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
export const fmtRatio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a');
export const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
export const usd = (value: number) => (value >= 1 ? `$${value.toFixed(3)}` : `$${value.toFixed(4)}`);

/** A markdown table, each column aligned left or right. */
export function mdTable(header: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(align.map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type Segment = Awaited<ReturnType<typeof closedLoop>>;

/** The `i`-th request of a loop; it answers how many items it carried. */
type Request = (i: number) => Promise<number>;
/** A closed loop: `concurrency` workers, each sending its next request when the last one answered. */
export async function closedLoop(concurrency: number, maxRequests: number, maxMs: number, call: Request) {
  const seg = { latencies: [] as number[], items: 0, requests: 0, errors: 0 };
  let [next, firstError] = [0, undefined as string | undefined];
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < maxRequests && performance.now() < started + maxMs; i = next++) {
      const t0 = performance.now();
      try {
        const items = await call(i); // not `seg.items += await ...`: that reads seg.items before the await
        seg.items += items;
        seg.latencies.push(performance.now() - t0);
      } catch (err) {
        seg.errors++;
        firstError ??= String((err as Error)?.message ?? err);
      }
      seg.requests++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ...seg, elapsedMs: performance.now() - started, firstError };
}
